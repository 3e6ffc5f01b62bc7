//! Balances: each book's chart (`rm_accounts`), debit and credit per account and party
//! (`rm_balances`, party `''` when the line has none so the key is a plain primary key), per
//! account and day (`rm_daily_balances`, for trial balances as of any date), and the wallet
//! requests that are not money yet (`rm_wallet_requests`: recharges awaiting approval are
//! pending, withdrawals awaiting approval are held). Mirrors `State::evolve` for wallets.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ledger_core::chart::{default_chart, Account, Side};
use ledger_core::ids::{ApprovalId, OrgId};
use ledger_core::money::Amount;
use ledger_core::{EventPayload, RecordedEvent};

use super::{enum_text, no_context, Fold, Projection};
use crate::sql::{Row, SqlValue, Statement};

pub const PROJECTION: Projection = Projection {
    name: "balances",
    tables: &["rm_accounts", "rm_balances", "rm_daily_balances", "rm_wallet_requests"],
    reads: &[],
    fold: Fold::Events { context: no_context, statements },
};

pub const NO_PARTY: &str = "";
pub const RECHARGE: &str = "recharge";
pub const WITHDRAWAL: &str = "withdrawal";
pub const REQUESTED: &str = "requested";

const UPSERT_ACCOUNT: &str = "INSERT INTO rm_accounts (book, code, name, account_type) VALUES ($1, $2, $3, $4)
     ON CONFLICT (book, code) DO UPDATE SET name = excluded.name, account_type = excluded.account_type";
const ADD_BALANCE: &str = "INSERT INTO rm_balances (book, account, party, debit, credit) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (book, account, party) DO UPDATE SET debit = rm_balances.debit + excluded.debit,
         credit = rm_balances.credit + excluded.credit";
const ADD_DAILY_BALANCE: &str =
    "INSERT INTO rm_daily_balances (book, account, day, debit, credit) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (book, account, day) DO UPDATE SET debit = rm_daily_balances.debit + excluded.debit,
         credit = rm_daily_balances.credit + excluded.credit";
const UPSERT_REQUEST: &str =
    "INSERT INTO rm_wallet_requests (kind, request_id, customer_id, book, approval_id, amount, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (kind, request_id) DO UPDATE SET status = excluded.status";
const SET_REQUEST_STATUS: &str = "UPDATE rm_wallet_requests SET status = $3 WHERE kind = $1 AND request_id = $2";
const REJECT_REQUEST: &str =
    "UPDATE rm_wallet_requests SET status = 'rejected' WHERE approval_id = $1 AND status = 'requested'";

type DebitCreditMinor = (i64, i64);

fn statements(event: &RecordedEvent, _: &[Row], out: &mut Vec<Statement>) {
    post_entries(event, out);
    match &event.event.payload {
        EventPayload::OrgOpened(opened) if opened.org.kind.keeps_book() => {
            for account in default_chart() {
                out.push(upsert_account(opened.org.id, &account));
            }
        }
        EventPayload::AccountOpened(opened) => out.push(upsert_account(opened.book, &opened.account)),
        EventPayload::RechargeRequested(requested) => {
            let request = (RECHARGE, requested.recharge_id.to_string(), requested.customer_id, requested.book);
            out.push(upsert_request(request, Some(requested.approval_id), requested.amount, REQUESTED));
        }
        EventPayload::RechargeConfirmed(confirmed) => {
            let request = (RECHARGE, confirmed.recharge_id.to_string(), confirmed.customer_id, confirmed.book);
            out.push(upsert_request(request, None, confirmed.amount, "confirmed"));
        }
        EventPayload::RechargeReversed(reversed) => {
            out.push(set_request_status(RECHARGE, reversed.recharge_id.to_string(), "reversed"));
        }
        EventPayload::WithdrawalRequested(requested) => {
            let request = (WITHDRAWAL, requested.withdrawal_id.to_string(), requested.customer_id, requested.book);
            out.push(upsert_request(request, Some(requested.approval_id), requested.amount, REQUESTED));
        }
        EventPayload::WithdrawalPaid(paid) => {
            let request = (WITHDRAWAL, paid.withdrawal_id.to_string(), paid.customer_id, paid.book);
            out.push(upsert_request(request, None, paid.amount, "paid"));
        }
        // A rejection releases what the request held (a grant is followed by the effect's event).
        EventPayload::ApprovalRejected(decided) => {
            out.push(Statement::new(REJECT_REQUEST, vec![SqlValue::text(decided.approval_id)]));
        }
        _ => {}
    }
}

/// Sums the event's lines by (book, account, party) and (book, account, day) first: one upsert
/// per key rather than per line.
fn post_entries(event: &RecordedEvent, out: &mut Vec<Statement>) {
    let mut by_party: BTreeMap<(OrgId, &str, String), DebitCreditMinor> = BTreeMap::new();
    let mut by_day: BTreeMap<(OrgId, &str, NaiveDate), DebitCreditMinor> = BTreeMap::new();
    for entry in &event.event.entries {
        for line in &entry.lines {
            let party = line.party.map_or_else(|| NO_PARTY.to_owned(), |party| party.to_string());
            post(by_party.entry((entry.book, line.account.as_str(), party)).or_default(), line.side, line.amount);
            post(by_day.entry((entry.book, line.account.as_str(), entry.date)).or_default(), line.side, line.amount);
        }
    }
    for ((book, account, party), (debit, credit)) in by_party {
        let params = vec![
            SqlValue::text(book),
            SqlValue::text(account),
            SqlValue::Text(party),
            SqlValue::Integer(debit),
            SqlValue::Integer(credit),
        ];
        out.push(Statement::additive(ADD_BALANCE, params, 3));
    }
    for ((book, account, day), (debit, credit)) in by_day {
        let params = vec![
            SqlValue::text(book),
            SqlValue::text(account),
            SqlValue::date(day),
            SqlValue::Integer(debit),
            SqlValue::Integer(credit),
        ];
        out.push(Statement::additive(ADD_DAILY_BALANCE, params, 3));
    }
}

fn post(totals: &mut DebitCreditMinor, side: Side, amount: Amount) {
    match side {
        Side::Debit => totals.0 += amount.to_minor(),
        Side::Credit => totals.1 += amount.to_minor(),
    }
}

fn upsert_account(book: OrgId, account: &Account) -> Statement {
    let params = vec![
        SqlValue::text(book),
        SqlValue::text(&account.code),
        SqlValue::text(&account.name),
        SqlValue::Text(enum_text(&account.account_type)),
    ];
    Statement::new(UPSERT_ACCOUNT, params)
}

fn upsert_request(
    (kind, request_id, customer_id, book): (&str, String, OrgId, OrgId),
    approval_id: Option<ApprovalId>,
    amount: Amount,
    status: &str,
) -> Statement {
    let params = vec![
        SqlValue::text(kind),
        SqlValue::Text(request_id),
        SqlValue::text(customer_id),
        SqlValue::text(book),
        SqlValue::optional_text(approval_id),
        SqlValue::amount(amount),
        SqlValue::text(status),
    ];
    Statement::new(UPSERT_REQUEST, params)
}

fn set_request_status(kind: &str, request_id: String, status: &str) -> Statement {
    Statement::new(SET_REQUEST_STATUS, vec![SqlValue::text(kind), SqlValue::Text(request_id), SqlValue::text(status)])
}
