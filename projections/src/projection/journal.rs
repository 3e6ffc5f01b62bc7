//! The journal (`rm_journal`): every line of every entry, keyed by (position, entry index, line
//! index), with its book, date, account, party, side amounts, event type, the posting rule and
//! version that booked it, its inter-company pair (the number within the event; the pair id
//! `<position>.<pair>` is made when read) and running balances (of the book and account; of the
//! book, account and party) for ledger pages. A book-wide running balance sums unlike accounts and
//! means nothing, so none is kept.
//!
//! Beside the lines, one row per event and book it booked in (`rm_journal_events`): the event's
//! hash, the order it concerns and its business reference as that book may see it, for exports
//! a person can read (`narration`). An approved recharge's confirmation names its request, not
//! the slip the request gave: the journal reads that from the register of money movements
//! (`rm_money_movements`, which keeps each request's reference), or carries it in memory from a
//! request earlier in the same run. Whatever the order of the two projections in a transaction,
//! the register already holds every request of an earlier run.

use ledger_core::chart::Side;
use ledger_core::ids::{OrderId, OrgId};
use ledger_core::{EventPayload, RecordedEvent};

use super::balances::NO_PARTY;
use std::collections::{BTreeSet, HashMap};

use super::{Fold, Projection};
use crate::sql::{statement_sizes, Row, SqlValue, Statement};
use crate::ReadError;

pub const PROJECTION: Projection = Projection {
    name: "journal",
    tables: &["rm_journal", "rm_journal_events"],
    reads: &["movements"],
    fold: Fold::Run { context, statements },
};

/// Keys whose latest running balances one context query reads (3 parameters each): well under
/// both backends' parameter limits, and few distinct statement texts (see [`statement_sizes`]).
const KEYS_PER_QUERY_MAX: usize = 512;

/// The running balances are the previous line's of the same key plus this line's debit − credit.
/// They are computed here for the whole run, starting from the latest stored line of each key
/// the run touches (read once, by [`context`]): lines are applied in log order and a run only
/// continues the checkpoint, so every stored line precedes the run.
const INSERT_LINE: &str = "INSERT INTO rm_journal (position, entry_idx, line_idx, book, entry_date, account, party,
         debit, credit, event_type, rule_id, rule_version, pair, account_running, party_running)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     ON CONFLICT (position, entry_idx, line_idx) DO NOTHING";

const INSERT_EVENT: &str = "INSERT INTO rm_journal_events (book, position, event_hash, order_id, reference)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (book, position) DO NOTHING";

/// The context rows are tagged by their first column: `running` rows (book, account, party and
/// the two running balances) and `reference` rows (a recharge and the reference its request
/// gave).
const RUNNING: &str = "running";
const REFERENCE: &str = "reference";
const REFERENCES_OF_RECHARGES: &str =
    "SELECT 'reference', movement_id, reference FROM rm_money_movements WHERE kind = 'recharge' AND movement_id IN";

/// The head of the query reading, per (book, account, party), the latest stored running balance
/// of the book and account, and of all three (0 when there is none). Each probe
/// orders by its key's columns too (a no-op under the equality filter) so that only the key's
/// index gives the order: ordered by position alone, a planner without statistics scans the
/// primary key backwards hoping to meet the key soon, which for a quiet party means most of the
/// journal.
const LATEST_RUNNING_SELECT: &str = "SELECT 'running', keys.book, keys.account, keys.party,
         COALESCE((SELECT previous.account_running FROM rm_journal previous WHERE previous.book = keys.book AND previous.account = keys.account
                   ORDER BY previous.book DESC, previous.account DESC, previous.position DESC, previous.entry_idx DESC, previous.line_idx DESC LIMIT 1), 0),
         COALESCE((SELECT previous.party_running FROM rm_journal previous
                   WHERE previous.book = keys.book AND previous.account = keys.account AND previous.party = keys.party
                   ORDER BY previous.book DESC, previous.account DESC, previous.party DESC, previous.position DESC, previous.entry_idx DESC, previous.line_idx DESC LIMIT 1), 0)
     FROM keys";

type Key = (String, String, String);

fn party_text(line: &ledger_core::journal::Line) -> String {
    line.party.map_or_else(|| NO_PARTY.to_owned(), |party| party.to_string())
}

/// The (book, account, party) keys of a run's lines, each once.
fn keys(run: &[&RecordedEvent]) -> BTreeSet<Key> {
    let mut keys = BTreeSet::new();
    for event in run {
        for entry in &event.event.entries {
            for line in &entry.lines {
                keys.insert((entry.book.to_string(), line.account.as_str().to_owned(), party_text(line)));
            }
        }
    }
    keys
}

/// What a run needs from earlier runs, read once: the latest running balances of the keys its
/// lines touch, and the references of the recharges it confirms after an approval but did not
/// request (a request within the run is carried in memory).
fn context(run: &[&RecordedEvent]) -> Vec<Statement> {
    let keys: Vec<Key> = keys(run).into_iter().collect();
    let mut queries = Vec::new();
    let mut rest = keys.as_slice();
    for size in statement_sizes(keys.len(), KEYS_PER_QUERY_MAX) {
        let (group, after) = rest.split_at(size);
        rest = after;
        queries.push(latest_running(group));
    }
    let (mut requested, mut needed) = (BTreeSet::new(), Vec::new());
    for event in run {
        match &event.event.payload {
            EventPayload::RechargeRequested(request) => {
                requested.insert(request.recharge_id.to_string());
            }
            EventPayload::RechargeConfirmed(confirmed) if confirmed.trade_number.is_none() => {
                let recharge = confirmed.recharge_id.to_string();
                if !requested.contains(&recharge) {
                    needed.push(SqlValue::Text(recharge));
                }
            }
            _ => {}
        }
    }
    let mut rest = needed.as_slice();
    for size in statement_sizes(needed.len(), KEYS_PER_QUERY_MAX) {
        let (group, after) = rest.split_at(size);
        rest = after;
        let placeholders: Vec<String> = (1..=group.len()).map(|index| format!("${index}")).collect();
        let sql = format!("{REFERENCES_OF_RECHARGES} ({})", placeholders.join(", "));
        queries.push(Statement::dynamic(sql, group.to_vec()));
    }
    queries
}

fn latest_running(keys: &[Key]) -> Statement {
    let rows: Vec<String> = (0..keys.len())
        .map(|index| {
            let first = index * 3 + 1;
            format!("(CAST(${first} AS TEXT), CAST(${} AS TEXT), CAST(${} AS TEXT))", first + 1, first + 2)
        })
        .collect();
    let sql = format!("WITH keys (book, account, party) AS (VALUES {}) {LATEST_RUNNING_SELECT}", rows.join(", "));
    let params = keys
        .iter()
        .flat_map(|(book, account, party)| [book, account, party].map(|text| SqlValue::Text(text.clone())))
        .collect();
    Statement::dynamic(sql, params)
}

/// The latest running balances per book and account, and per book, account and party.
#[derive(Default)]
struct Running {
    account: HashMap<(String, String), i64>,
    party: HashMap<Key, i64>,
}

impl Running {
    fn read(rows: &[Row]) -> Result<Running, ReadError> {
        let mut running = Running::default();
        for row in rows {
            if row.text(0)? != RUNNING {
                continue;
            }
            let (book, account, party) = (row.text(1)?, row.text(2)?, row.text(3)?);
            running.account.insert((book.to_owned(), account.to_owned()), row.integer(4)?);
            running.party.insert((book.to_owned(), account.to_owned(), party.to_owned()), row.integer(5)?);
        }
        Ok(running)
    }

    /// Adds a line's debit − credit to its two keys; answers their new running balances.
    fn add(&mut self, (book, account, party): Key, change: i64) -> [i64; 2] {
        let add = |total: &mut i64| {
            *total += change;
            *total
        };
        [
            add(self.account.entry((book.clone(), account.clone())).or_default()),
            add(self.party.entry((book, account, party)).or_default()),
        ]
    }
}

/// A recharge's id and the reference its request gave.
type RechargeReferences = HashMap<String, String>;

fn recharge_references(rows: &[Row]) -> Result<RechargeReferences, ReadError> {
    let mut references = HashMap::new();
    for row in rows {
        if row.text(0)? == REFERENCE {
            if let Some(reference) = row.optional_text(2)? {
                references.insert(row.text(1)?.to_owned(), reference.to_owned());
            }
        }
    }
    Ok(references)
}

fn statements(run: &[&RecordedEvent], context: &[Row], out: &mut Vec<Statement>) -> Result<(), ReadError> {
    let mut running = Running::read(context)?;
    let mut references = recharge_references(context)?;
    for event in run {
        lines(event, &mut running, out);
        event_rows(event, &mut references, out);
    }
    Ok(())
}

/// One row per book the event booked in: its hash, its order and its reference as that book
/// sees it. A recharge request's reference is carried to its confirmation later in the run.
fn event_rows(event: &RecordedEvent, references: &mut RechargeReferences, out: &mut Vec<Statement>) {
    if let EventPayload::RechargeRequested(request) = &event.event.payload {
        references.insert(request.recharge_id.to_string(), request.reference.clone());
    }
    let books: BTreeSet<OrgId> = event.event.entries.iter().map(|entry| entry.book).collect();
    let narration = narration(&event.event.payload, references);
    for book in books {
        let params = vec![
            SqlValue::text(book),
            SqlValue::position(event.position),
            SqlValue::text(&event.hash),
            SqlValue::optional_text(narration.order_id),
            SqlValue::optional_text(narration.reference_in(book)),
        ];
        out.push(Statement::new(INSERT_EVENT, params));
    }
}

/// What a person looks for beside an event's lines: the order it concerns and its business
/// reference.
struct Narration<'a> {
    order_id: Option<OrderId>,
    reference: Option<Reference<'a>>,
}

/// A business reference: an id (a statement, a withdrawal, a batch) is shown in every book the
/// event booked in, like the pair ids that already link those books; text one org wrote (a slip
/// number, a reason, a memo) only in that org's book, since it may name its customer.
enum Reference<'a> {
    Id(String),
    Text { text: &'a str, book: OrgId },
}

impl Narration<'_> {
    /// The reference as `book` may see it.
    fn reference_in(&self, book: OrgId) -> Option<&str> {
        match &self.reference {
            Some(Reference::Id(id)) => Some(id),
            Some(Reference::Text { text, book: owner }) if *owner == book => Some(text),
            _ => None,
        }
    }
}

/// The order and reference of every event type (those that book no entries too, so that a new
/// flow decides its narration here rather than falling through). An online recharge carries the
/// channel's trade number; one confirmed after an approval is known by its request's reference
/// (the slip), which `references` holds.
fn narration<'a>(payload: &'a EventPayload, references: &'a RechargeReferences) -> Narration<'a> {
    use EventPayload as E;
    let (order_id, reference) = match payload {
        E::RechargeRequested(event) => (None, text(&event.reference, event.book)),
        E::OnlineRechargeRequested(event) => (None, text(&event.reference, event.book)),
        E::RechargeConfirmed(event) => {
            let requested = references.get(&event.recharge_id.to_string()).filter(|_| event.trade_number.is_none());
            (None, text(requested.unwrap_or(&event.reference), event.book))
        }
        E::RechargeReversed(event) => (None, text(&event.reason, event.book)),
        E::CouponGranted(event) => (None, text(&event.reason, event.book)),
        E::VoucherGranted(event) => (None, text(&event.reason, event.book)),
        E::VoucherRedeemed(event) => (None, id(&event.source_id)),
        E::VoucherReturned(event) => (Some(event.order_id), None),
        E::VoucherExpired(_) => (None, None),
        E::WithdrawalRequested(event) => (None, id(&event.withdrawal_id)),
        E::WithdrawalPaid(event) => (None, id(&event.withdrawal_id)),
        E::OrderPlaced(event) => (Some(event.order_id), None),
        E::OrderPaid(event) => (Some(event.order_id), None),
        E::OrderFulfilled(event) => (Some(event.order_id), None),
        E::OrderCancelled(event) => (Some(event.order_id), None),
        E::OrderRefunded(event) => (Some(event.order_id), text(&event.reason, event.seller_id)),
        E::SubscriptionRenewed(event) => (Some(event.order_id), id(&event.renewal_id)),
        E::UsageCharged(event) => (None, id(&event.usage_id)),
        E::CommissionAccrued(event) => (None, id(&event.source_id)),
        E::CommissionReversed(event) => (None, id(&event.source_id)),
        E::SerialCodesIssued(event) => (None, id(&event.batch_id)),
        E::SerialCodeActivated(event) => (None, id(&event.batch_id)),
        E::SerialCodesExpired(event) => (None, id(&event.batch_id)),
        E::SettlementStatementIssued(event) => (None, id(&event.settlement_id)),
        E::SettlementPaid(event) => (None, id(&event.settlement_id)),
        E::InvoiceIssued(event) => (None, id(&event.invoice_id)),
        E::InvoiceRequested(event) => (None, id(&event.invoice_id)),
        E::InvoiceDelivered(event) => (None, id(&event.invoice_id)),
        E::InvoiceVoided(event) => (None, id(&event.invoice_id)),
        E::InvoiceRedLettered(event) => (None, id(&event.red_invoice_id)),
        E::BusinessBooked(event) => (None, text(&event.memo, event.book)),
        E::ManualEntryBooked(event) => (None, text(&event.memo, event.book)),
        E::ReconciliationRecorded(event) => (None, id(&event.reconciliation_id)),
        E::PeriodReopened(event) => (None, text(&event.reason, event.book)),
        E::CreditDrawn(event) => (None, id(&event.source_id)),
        E::ArrearsRepaid(event) => (None, id(&event.source_id)),
        E::CreditLimitSet(_)
        | E::ArrearsOverdue(_)
        | E::BookTermsSet(_)
        | E::SettlementCycleSet(_)
        | E::AutoRenewalSet(_)
        | E::AutoRenewalFailed(_)
        | E::OrgOpened(_)
        | E::AccountOpened(_)
        | E::PostingRulesSet(_)
        | E::SaleModeSet(_)
        | E::ProductCreated(_)
        | E::SupplierRateSet(_)
        | E::RateSet(_)
        | E::PromotionCreated(_)
        | E::InviteCodeCreated(_)
        | E::ApprovalRequested(_)
        | E::ApprovalGranted(_)
        | E::ApprovalRejected(_)
        | E::ApprovalPolicySet(_)
        | E::ApprovalRouted(_)
        | E::ApprovalLevelGranted(_)
        | E::SerialPackagePriced(_)
        | E::DistributorTierSet(_)
        | E::SerialTierRateSet(_)
        | E::PeriodClosed(_)
        | E::TokenIssued(_)
        | E::UserCreated(_)
        | E::TokenRevoked(_)
        | E::RoleDefined(_)
        | E::CustomerOwnerSet(_)
        | E::OrgProfileUpdated(_)
        | E::OrgClosed(_)
        | E::OrgReopened(_)
        | E::CustomerTransferred(_)
        | E::SerialExpirySet(_)
        | E::SupplierTermsSet(_)
        | E::ProductUpdated(_)
        | E::ListPriceScheduled(_)
        | E::SaleModeScheduled(_)
        | E::PriceSet(_)
        | E::PromotionTermsSet(_)
        | E::ExchangeRateSet(_) => (None, None),
        E::LowBalanceThresholdSet(_) => (None, None),
    };
    Narration { order_id, reference }
}

fn id(id: &impl std::fmt::Display) -> Option<Reference<'static>> {
    Some(Reference::Id(id.to_string()))
}

/// Text one org wrote; none when it is empty.
fn text(text: &str, book: OrgId) -> Option<Reference<'_>> {
    (!text.is_empty()).then_some(Reference::Text { text, book })
}

fn lines(event: &RecordedEvent, running: &mut Running, out: &mut Vec<Statement>) {
    for (entry_idx, entry) in event.event.entries.iter().enumerate() {
        for (line_idx, line) in entry.lines.iter().enumerate() {
            let (debit, credit) = match line.side {
                Side::Debit => (line.amount.to_minor(), 0),
                Side::Credit => (0, line.amount.to_minor()),
            };
            let party = party_text(line);
            let key = (entry.book.to_string(), line.account.as_str().to_owned(), party.clone());
            let [account_running, party_running] = running.add(key, debit - credit);
            let params = vec![
                SqlValue::position(event.position),
                SqlValue::Integer(entry_idx as i64),
                SqlValue::Integer(line_idx as i64),
                SqlValue::text(entry.book),
                SqlValue::date(entry.date),
                SqlValue::text(&line.account),
                SqlValue::Text(party),
                SqlValue::Integer(debit),
                SqlValue::Integer(credit),
                SqlValue::text(event.event_type()),
                SqlValue::text(&entry.rule.id),
                SqlValue::Integer(i64::from(entry.rule.version)),
                line.pair.map_or(SqlValue::Null, |pair| SqlValue::Integer(i64::from(pair))),
                SqlValue::Integer(account_running),
                SqlValue::Integer(party_running),
            ];
            out.push(Statement::new(INSERT_LINE, params));
        }
    }
}
