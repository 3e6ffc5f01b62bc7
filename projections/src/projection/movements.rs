//! Money movements (`rm_money_movements`): each recharge, withdrawal and coupon of a customer's
//! wallet with its method or route, reference or reason, approval, status and the positions that
//! requested, booked and reversed it. The wallet's sums stay in `balances`; this is the register a
//! person reads one movement from (`GET /v1/recharges/{id}`) and an approval's subject.

use ledger_core::{EventPayload, RecordedEvent};

use super::{enum_text, no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "movements",
    tables: &["rm_money_movements"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

pub const RECHARGE: &str = "recharge";
pub const WITHDRAWAL: &str = "withdrawal";
pub const COUPON: &str = "coupon";

/// A request awaiting its approval.
pub const REQUESTED: &str = "requested";
/// An online recharge awaiting its payment notification.
pub const AWAITING_PAYMENT: &str = "awaiting_payment";

const INSERT: &str = "INSERT INTO rm_money_movements (kind, movement_id, customer_id, book, amount, channel, reference,
         status, approval_id, trade_number, requested_at, requested_position, booked_position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (kind, movement_id) DO UPDATE SET status = excluded.status,
         booked_position = excluded.booked_position, trade_number = excluded.trade_number";
const REVERSE: &str = "UPDATE rm_money_movements SET status = 'reversed', reversed_position = $2, reversal_reason = $3
     WHERE kind = 'recharge' AND movement_id = $1";
const REJECT: &str =
    "UPDATE rm_money_movements SET status = 'rejected' WHERE approval_id = $1 AND status = 'requested'";

/// One movement as it is first known: by its request, or at once booked (an online recharge, a
/// withdrawal back along its channel, a coupon).
struct Movement<'a> {
    kind: &'static str,
    id: String,
    customer_id: String,
    book: String,
    amount: ledger_core::money::Amount,
    channel: Option<String>,
    reference: Option<&'a str>,
    status: &'static str,
    approval_id: Option<String>,
    trade_number: Option<String>,
}

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    let movement = match &event.event.payload {
        EventPayload::RechargeRequested(requested) => Movement {
            kind: RECHARGE,
            id: requested.recharge_id.to_string(),
            customer_id: requested.customer_id.to_string(),
            book: requested.book.to_string(),
            amount: requested.amount,
            channel: Some(enum_text(&requested.method)),
            reference: Some(&requested.reference),
            status: REQUESTED,
            approval_id: Some(requested.approval_id.to_string()),
            trade_number: None,
        },
        EventPayload::OnlineRechargeRequested(requested) => Movement {
            kind: RECHARGE,
            id: requested.recharge_id.to_string(),
            customer_id: requested.customer_id.to_string(),
            book: requested.book.to_string(),
            amount: requested.amount,
            channel: Some(enum_text(&ledger_core::event::RechargeMethod::Online)),
            reference: Some(&requested.reference),
            status: AWAITING_PAYMENT,
            approval_id: None,
            trade_number: None,
        },
        EventPayload::RechargeConfirmed(confirmed) => Movement {
            kind: RECHARGE,
            id: confirmed.recharge_id.to_string(),
            customer_id: confirmed.customer_id.to_string(),
            book: confirmed.book.to_string(),
            amount: confirmed.amount,
            channel: Some(enum_text(&confirmed.method)),
            reference: Some(&confirmed.reference),
            status: "confirmed",
            approval_id: None,
            trade_number: confirmed.trade_number.as_ref().map(|number| number.to_string()),
        },
        EventPayload::WithdrawalRequested(requested) => Movement {
            kind: WITHDRAWAL,
            id: requested.withdrawal_id.to_string(),
            customer_id: requested.customer_id.to_string(),
            book: requested.book.to_string(),
            amount: requested.amount,
            channel: Some(enum_text(&requested.route)),
            reference: None,
            status: REQUESTED,
            approval_id: Some(requested.approval_id.to_string()),
            trade_number: None,
        },
        EventPayload::WithdrawalPaid(paid) => Movement {
            kind: WITHDRAWAL,
            id: paid.withdrawal_id.to_string(),
            customer_id: paid.customer_id.to_string(),
            book: paid.book.to_string(),
            amount: paid.amount,
            channel: Some(enum_text(&paid.route)),
            reference: None,
            status: "paid",
            approval_id: None,
            trade_number: None,
        },
        EventPayload::CouponGranted(granted) => Movement {
            kind: COUPON,
            id: event.position.to_string(),
            customer_id: granted.customer_id.to_string(),
            book: granted.book.to_string(),
            amount: granted.amount,
            channel: None,
            reference: Some(&granted.reason),
            status: "granted",
            approval_id: None,
            trade_number: None,
        },
        EventPayload::VoucherGranted(granted) => Movement {
            kind: COUPON,
            id: event.position.to_string(),
            customer_id: granted.customer_id.to_string(),
            book: granted.book.to_string(),
            amount: granted.amount,
            channel: None,
            reference: Some(&granted.reason),
            status: "granted",
            approval_id: None,
            trade_number: None,
        },
        EventPayload::RechargeReversed(reversed) => {
            let params = vec![
                SqlValue::text(reversed.recharge_id),
                SqlValue::position(event.position),
                SqlValue::text(&reversed.reason),
            ];
            out.push(Statement::new(REVERSE, params));
            return;
        }
        EventPayload::ApprovalRejected(decided) => {
            out.push(Statement::new(REJECT, vec![SqlValue::text(decided.approval_id)]));
            return;
        }
        _ => return,
    };
    let booked = movement.status != REQUESTED && movement.status != AWAITING_PAYMENT;
    let params = vec![
        SqlValue::text(movement.kind),
        SqlValue::Text(movement.id),
        SqlValue::Text(movement.customer_id),
        SqlValue::Text(movement.book),
        SqlValue::amount(movement.amount),
        SqlValue::optional_text(movement.channel),
        SqlValue::optional_text(movement.reference),
        SqlValue::text(movement.status),
        SqlValue::optional_text(movement.approval_id),
        SqlValue::optional_text(movement.trade_number),
        SqlValue::timestamp(event.recorded_at),
        SqlValue::position(event.position),
        if booked { SqlValue::position(event.position) } else { SqlValue::Null },
    ];
    out.push(Statement::new(INSERT, params));
}
