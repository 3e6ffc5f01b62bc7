//! The ledger's invariants, checked over a log and the state folded from it. Property tests run
//! [`violations`] after every command; `kboss verify` and `GET /v1/books/{org}/verify` stream a
//! whole store through an [`Audit`], one event at a time, and report each [`Violation`] with the
//! position that caused it.

use std::collections::{BTreeMap, HashMap};

use crate::chart::codes;
use crate::event::RecordedEvent;
use crate::ids::OrgId;
use crate::money::SignedAmount;
use crate::org::OrgKind;
use crate::state::State;

/// One broken invariant: what kind, where (the position that caused it, when one did), which
/// books it concerns, and a sentence saying it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub position: Option<u64>,
    /// A stable word: `unbalanced_entry`, `customer_outside_seller_book`, `trial_balance`,
    /// `wallet`, `wallet_below_zero`, `wallet_below_credit_limit`, `arrears`, `pair`,
    /// `intercompany`.
    pub kind: &'static str,
    pub books: Vec<OrgId>,
    pub detail: String,
}

/// Every broken invariant, described; empty when the books are sound.
pub fn violations(state: &State, log: &[RecordedEvent]) -> Vec<String> {
    let mut audit = Audit::default();
    for event in log {
        audit.observe(state, event);
    }
    audit.finish(state).into_iter().map(|violation| violation.detail).collect()
}

/// A running sum that should end at zero, and the position since which it has not been (the
/// event that left it off): what a report names as the cause.
#[derive(Clone, Copy, Default)]
struct Running {
    net: SignedAmount,
    off_since: Option<u64>,
}

impl Running {
    fn add(&mut self, amount: SignedAmount, position: u64) {
        let was_zero = self.net.is_zero();
        self.net = self.net.plus(amount);
        if self.net.is_zero() {
            self.off_since = None;
        } else if was_zero {
            self.off_since = Some(position);
        }
    }
}

/// The invariants over a log streamed event by event: what the lines sum to by book, wallet and
/// pair of books, each with the position that left it off. Memory grows with the books and
/// customers, not with the log.
#[derive(Default)]
pub struct Audit {
    book_net: BTreeMap<OrgId, Running>,
    /// A customer's 2203 lines (credit positive), and the position that last changed them.
    wallet_ledger: HashMap<OrgId, (SignedAmount, u64)>,
    /// A customer's 1122 lines (debit positive: its arrears), and the position that last
    /// changed them.
    arrears_ledger: HashMap<OrgId, (SignedAmount, u64)>,
    /// Each customer's credit limit as the log set it so far (`CreditLimitSet`).
    credit_limits: HashMap<OrgId, crate::money::Amount>,
    intercompany: BTreeMap<(OrgId, OrgId), Running>,
    found: Vec<Violation>,
    last_position: u64,
}

impl Audit {
    /// Folds one event's lines in. `state` knows every org the event's lines name (the state
    /// after the event, or any later one).
    pub fn observe(&mut self, state: &State, event: &RecordedEvent) {
        let position = event.position;
        self.last_position = self.last_position.max(position);
        if let crate::event::EventPayload::CreditLimitSet(set) = &event.event.payload {
            self.credit_limits.insert(set.customer_id, set.limit);
        }
        // Each customer whose arrears (1122) the event moves: what they were before.
        let mut arrears_before: BTreeMap<OrgId, SignedAmount> = BTreeMap::new();
        let mut pairs: BTreeMap<u32, (usize, SignedAmount, Vec<OrgId>)> = BTreeMap::new();
        let mut intercompany: BTreeMap<(OrgId, OrgId), SignedAmount> = BTreeMap::new();
        for entry in &event.event.entries {
            if !entry.imbalance().is_zero() {
                self.found.push(Violation {
                    position: Some(position),
                    kind: "unbalanced_entry",
                    books: vec![entry.book],
                    detail: format!("event {position}: unbalanced entry in book {}", entry.book),
                });
            }
            let mut book_sum = SignedAmount::ZERO;
            for line in &entry.lines {
                let signed = line.signed();
                book_sum = book_sum.plus(signed);
                let party_org = line.party.and_then(|party| state.org(party));
                let party_kind = party_org.map(|org| org.kind);
                // A customer is a party of its seller's book only: its wallet is its 2203 there.
                if let Some(customer) = party_org.filter(|org| org.kind == OrgKind::Customer) {
                    if customer.parent_id != Some(entry.book) {
                        self.found.push(Violation {
                            position: Some(position),
                            kind: "customer_outside_seller_book",
                            books: vec![entry.book],
                            detail: format!(
                                "event {position}: customer {} has a line in book {}, not its seller's",
                                customer.id, entry.book
                            ),
                        });
                    }
                }
                if let (
                    code @ (codes::CUSTOMER_PREPAYMENTS | codes::RECEIVABLES),
                    Some(OrgKind::Customer),
                    Some(customer),
                ) = (line.account.as_str(), party_kind, line.party)
                {
                    if code == codes::RECEIVABLES {
                        arrears_before.entry(customer).or_insert_with(|| self.arrears(customer));
                        self.observe_arrears(customer, signed, (position, entry.book));
                    } else {
                        self.observe_wallet(customer, signed, (position, entry.book));
                    }
                }
                if let Some(party) = line.party.filter(|party| state.books.contains_key(party)) {
                    let code = line.account.as_str();
                    if code == codes::RECEIVABLES || code == codes::PAYABLES {
                        let key = (entry.book.min(party), entry.book.max(party));
                        let sum = intercompany.entry(key).or_default();
                        *sum = sum.plus(signed);
                    }
                }
                if let Some(pair) = line.pair {
                    let slot = pairs.entry(pair).or_default();
                    slot.0 += 1;
                    slot.1 = slot.1.plus(signed);
                    slot.2.push(entry.book);
                }
            }
            self.book_net.entry(entry.book).or_default().add(book_sum, position);
        }
        // Only credit takes a wallet (2203 − 1122) below zero, down to minus the limit in force:
        // an event that draws (raises 1122) must leave the arrears within the limit. A limit
        // lowered below what is owed leaves the debt as it is: events that draw nothing are not
        // judged by it.
        for (customer, arrears_before) in arrears_before {
            let arrears = self.arrears(customer);
            let limit = self.credit_limits.get(&customer).copied().unwrap_or(crate::money::Amount::ZERO);
            if arrears.as_decimal() > arrears_before.as_decimal() && arrears.as_decimal() > limit.as_decimal() {
                let books = state.org(customer).and_then(|org| org.parent_id).into_iter().collect();
                self.found.push(Violation {
                    position: Some(position),
                    kind: "wallet_below_credit_limit",
                    books,
                    detail: format!(
                        "event {position}: customer {customer}: wallet {} (2203 − 1122) drawn below minus its credit limit {limit}",
                        self.net_wallet(customer)
                    ),
                });
            }
        }
        for (key, sum) in intercompany {
            self.intercompany.entry(key).or_default().add(sum, position);
        }
        for (pair, (count, net, mut books)) in pairs {
            if count != 2 || !net.is_zero() {
                books.sort();
                books.dedup();
                self.found.push(Violation {
                    position: Some(position),
                    kind: "pair",
                    books,
                    detail: format!("event {position}: pair {pair} has {count} lines netting {net}"),
                });
            }
        }
    }

    /// The violations found on the way, then those of the sums the whole log leaves: every book's
    /// trial balance (from the lines and from the state) zero, every wallet its 2203 balance,
    /// every customer's arrears its 1122 balance,
    /// every pair of books' receivables and payables with each other netting to zero.
    pub fn finish(mut self, state: &State) -> Vec<Violation> {
        self.check_books(state);
        self.check_wallets(state);
        self.check_intercompany();
        self.found
    }

    /// A customer's 2203 line: its cash, never below zero.
    fn observe_wallet(&mut self, customer: OrgId, signed: SignedAmount, (position, book): (u64, OrgId)) {
        let wallet = self.wallet_ledger.entry(customer).or_insert((SignedAmount::ZERO, position));
        *wallet = (wallet.0.plus(signed.negated()), position);
        if wallet.0.is_negative() {
            self.found.push(Violation {
                position: Some(position),
                kind: "wallet_below_zero",
                books: vec![book],
                detail: format!("event {position}: customer {customer}: wallet below zero ({})", wallet.0),
            });
        }
    }

    /// A customer's 1122 line: its arrears, never below zero (a receivable, not a prepayment).
    fn observe_arrears(&mut self, customer: OrgId, signed: SignedAmount, (position, book): (u64, OrgId)) {
        let arrears = self.arrears_ledger.entry(customer).or_insert((SignedAmount::ZERO, position));
        *arrears = (arrears.0.plus(signed), position);
        if arrears.0.is_negative() {
            self.found.push(Violation {
                position: Some(position),
                kind: "arrears",
                books: vec![book],
                detail: format!("event {position}: customer {customer}: arrears below zero ({})", arrears.0),
            });
        }
    }

    /// A customer's arrears as the lines say (its 1122, debit positive).
    fn arrears(&self, customer: OrgId) -> SignedAmount {
        self.arrears_ledger.get(&customer).map_or(SignedAmount::ZERO, |(net, _)| *net)
    }

    /// A customer's whole wallet as the lines say: its prepayments (2203) less its arrears (1122).
    fn net_wallet(&self, customer: OrgId) -> SignedAmount {
        let cash = self.wallet_ledger.get(&customer).map_or(SignedAmount::ZERO, |(net, _)| *net);
        let arrears = self.arrears_ledger.get(&customer).map_or(SignedAmount::ZERO, |(net, _)| *net);
        cash.plus(arrears.negated())
    }

    fn check_books(&mut self, state: &State) {
        for (book, running) in &self.book_net {
            if !running.net.is_zero() {
                self.found.push(Violation {
                    position: running.off_since,
                    kind: "trial_balance",
                    books: vec![*book],
                    detail: format!("book {book}: trial balance is off by {}", running.net),
                });
            }
        }
        for (book_id, book) in &state.books {
            let rows = book.trial_balance(chrono::NaiveDate::MAX);
            let net = rows.iter().fold(SignedAmount::ZERO, |sum, row| sum.add_total(row.debit).sub_total(row.credit));
            if !net.is_zero() {
                self.found.push(Violation {
                    position: None,
                    kind: "trial_balance",
                    books: vec![*book_id],
                    detail: format!("book {book_id}: state trial balance is off by {net}"),
                });
            }
        }
    }

    fn check_wallets(&mut self, state: &State) {
        let seller = |customer: &OrgId| state.org(*customer).and_then(|org| org.parent_id).into_iter().collect();
        for (customer, wallet) in &state.wallets {
            let (ledger, position) = self.wallet_ledger.get(customer).copied().unwrap_or_default();
            if ledger != SignedAmount::from(wallet.balance) {
                self.found.push(Violation {
                    position: (position > 0).then_some(position),
                    kind: "wallet",
                    books: seller(customer),
                    detail: format!("customer {customer}: wallet {} but 2203 says {ledger}", wallet.balance),
                });
            }
            if wallet.reserved > wallet.balance {
                self.found.push(Violation {
                    position: None,
                    kind: "wallet",
                    books: seller(customer),
                    detail: format!(
                        "customer {customer}: reserved {} exceeds balance {}",
                        wallet.reserved, wallet.balance
                    ),
                });
            }
        }
        for (customer, (ledger, position)) in &self.arrears_ledger {
            let arrears = state.arrears_of(*customer);
            if *ledger != SignedAmount::from(arrears) {
                self.found.push(Violation {
                    position: Some(*position),
                    kind: "arrears",
                    books: seller(customer),
                    detail: format!("customer {customer}: arrears {arrears} but 1122 says {ledger}"),
                });
            }
        }
        for (customer, credit) in &state.credit {
            if !credit.arrears.is_empty() && !self.arrears_ledger.contains_key(customer) {
                self.found.push(Violation {
                    position: None,
                    kind: "arrears",
                    books: seller(customer),
                    detail: format!("customer {customer}: arrears {} but no 1122 line", credit.arrears_total()),
                });
            }
        }
        for (customer, (ledger, position)) in &self.wallet_ledger {
            if !state.wallets.contains_key(customer) && !ledger.is_zero() {
                self.found.push(Violation {
                    position: Some(*position),
                    kind: "wallet",
                    books: seller(customer),
                    detail: format!("customer {customer}: 2203 {ledger} but no wallet"),
                });
            }
        }
    }

    /// Book A's receivables and payables with B mirror B's with A: together they net to zero.
    fn check_intercompany(&mut self) {
        for ((a, b), running) in &self.intercompany {
            if !running.net.is_zero() {
                let since = running.off_since.map(|position| format!(" since event {position}")).unwrap_or_default();
                self.found.push(Violation {
                    position: running.off_since,
                    kind: "intercompany",
                    books: vec![*a, *b],
                    detail: format!("books {a} and {b}: inter-company balances net to {}{since}", running.net),
                });
            }
        }
    }

    /// The violations found event by event, for a log whose replay stopped before its end (its
    /// sums are not judged: they are not the whole log's).
    pub fn interrupted(self) -> Vec<Violation> {
        self.found
    }

    /// The last position observed.
    pub fn last_position(&self) -> u64 {
        self.last_position
    }
}
