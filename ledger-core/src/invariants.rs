//! The ledger's invariants, checked over a log and the state folded from it. Property tests run
//! [`violations`] after every command; `kboss verify` and `GET /v1/books/{org}/verify` stream a
//! whole store through an [`Audit`], one event at a time, and report each [`Violation`] with the
//! position that caused it.

use std::collections::{BTreeMap, HashMap};

use crate::chart::codes;
use crate::event::{EventPayload, RecordedEvent};
use crate::ids::OrgId;
use crate::money::{Amount, SignedAmount};
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

/// What the live monitors watch while the ledger serves (DESIGN §13), each a pair of figures
/// that must agree after every event.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Watched {
    /// A book's 2203 (with `vouchers`, its 2203.01) against the sum of its customers' wallets'
    /// cash (vouchers) as the state keeps them.
    Wallets { book: OrgId, vouchers: bool },
    /// What a book owes a supplier on 2202 against what its statements with the supplier leave
    /// unpaid plus what is on no statement yet.
    SupplierPayables { book: OrgId, supplier: OrgId },
    /// One book's 1122 with another (a child reseller in its parent's book, a distributor in
    /// the issuer's, a parent in a rebate reseller's) against the other's 2202 with it.
    Intercompany { receivable_book: OrgId, payable_book: OrgId },
    /// A book's trial balance: debits equal credits.
    TrialBalance { book: OrgId },
    /// A violation of one event ([`Audit`]'s kinds, or `log`: an event that does not verify),
    /// the `index`-th found at its position.
    Event { position: u64, kind: &'static str, index: usize },
}

impl Watched {
    /// The invariant's stable name (a metric label: a bounded set).
    pub fn invariant(&self) -> &'static str {
        match self {
            Watched::Wallets { .. } => "wallets",
            Watched::SupplierPayables { .. } => "supplier_payables",
            Watched::Intercompany { .. } => "intercompany",
            Watched::TrialBalance { .. } => "trial_balance",
            Watched::Event { kind, .. } => kind,
        }
    }

    /// Every name [`Watched::invariant`] answers.
    pub const INVARIANTS: [&'static str; 9] = [
        "wallets",
        "supplier_payables",
        "intercompany",
        "trial_balance",
        "unbalanced_entry",
        "pair",
        "customer_outside_seller_book",
        "wallet_below_zero",
        "log",
    ];
}

/// An invariant found broken: where it broke (the event after which the figures disagree),
/// the books it concerns and a sentence saying it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Breach {
    pub watched: Watched,
    pub position: u64,
    pub books: Vec<OrgId>,
    pub detail: String,
}

/// What one event changed in what the monitors watch.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Finding {
    /// Broken by this event (it held before it): reported once, until it holds again.
    Breached(Breach),
    /// Holds again after this event.
    Healed { watched: Watched, position: u64 },
    /// A customer's wallet (cash and vouchers) fell below its threshold with this event (or a
    /// threshold was set above it): once per crossing.
    LowBalance { customer: OrgId, book: OrgId, balance: Amount, threshold: Amount, position: u64 },
}

/// The live invariant monitors: [`Audit`]'s running sums (trial balances, each event's own
/// violations) and the sums of the figures the ledger keeps twice (a book's prepayments and its
/// customers' wallets, a supplier's payables and the statements, two books' receivable and
/// payable with each other), each kept up to date event by event and compared for what the
/// event touched, so a check costs what the event touched, not what the ledger holds. Feed it
/// every event in position order with the state after it ([`Monitor::observe`]).
#[derive(Default)]
pub struct Monitor {
    audit: Audit,
    /// Violations of `audit.found` already reported.
    reported: usize,
    /// 1122 (`true`) and 2202 lines of a book with a party that is a book or a supplier, debit
    /// positive.
    counterparties: HashMap<(OrgId, bool, OrgId), SignedAmount>,
    /// A book's 2203 (`false`) and 2203.01 lines, credit positive.
    prepayments: HashMap<(OrgId, bool), SignedAmount>,
    /// The state's wallets, cash (`false`) and vouchers, summed by seller.
    wallets: HashMap<(OrgId, bool), SignedAmount>,
    /// Each customer's wallet as last summed: cash, vouchers.
    wallets_seen: HashMap<OrgId, (Amount, Amount)>,
    /// What a book owes a supplier on no statement yet: 2202 lines not booked by a settlement,
    /// less the payable of the statements issued (credit positive).
    supplier_open: HashMap<(OrgId, OrgId), SignedAmount>,
    /// The payable of a book's statements with a supplier, less what was paid of them.
    supplier_unpaid: HashMap<(OrgId, OrgId), SignedAmount>,
    /// What is broken now, since which position.
    open: BTreeMap<Watched, u64>,
    /// Customers whose wallet is below their threshold.
    below: std::collections::HashSet<OrgId>,
}

/// What one event touched: the figures to compare after it.
#[derive(Default)]
struct Touched {
    books: std::collections::BTreeSet<OrgId>,
    prepayments: std::collections::BTreeSet<(OrgId, bool)>,
    customers: std::collections::BTreeSet<OrgId>,
    suppliers: std::collections::BTreeSet<(OrgId, OrgId)>,
    pairs: std::collections::BTreeSet<(OrgId, OrgId)>,
}

fn credit_positive(line: &crate::journal::Line) -> SignedAmount {
    line.signed().negated()
}

impl Monitor {
    /// The invariants broken now, with the position since which.
    pub fn open(&self) -> impl Iterator<Item = (&Watched, &u64)> {
        self.open.iter()
    }

    /// Folds one event in (`state` is the state after it) and answers what it broke, healed
    /// and what low balances it crossed.
    pub fn observe(&mut self, state: &State, event: &RecordedEvent) -> Vec<Finding> {
        let position = event.position;
        self.audit.observe(state, event);
        let mut touched = Touched::default();
        self.fold_lines(state, event, &mut touched);
        self.fold_payload(state, event, &mut touched);
        self.fold_wallets(state, &mut touched);
        let mut findings = self.new_violations(position);
        self.check(position, &touched, &mut findings);
        self.low_balances(state, position, &touched, &mut findings);
        findings
    }

    /// An event that does not verify (`log::verify_next` refused it): what it breaks, seen
    /// from the state before it, and a `log` breach saying why. Nothing after it can be folded.
    pub fn refused(&mut self, state_before: &State, event: &RecordedEvent, reason: &str) -> Vec<Finding> {
        let position = event.position;
        self.audit.observe(state_before, event);
        let mut findings = self.new_violations(position);
        let books: std::collections::BTreeSet<OrgId> = event.event.entries.iter().map(|entry| entry.book).collect();
        for book in books {
            self.judge(Watched::TrialBalance { book }, position, self.trial_balance_off(book), &mut findings);
        }
        let watched = Watched::Event { position, kind: "log", index: 0 };
        self.open.insert(watched, position);
        findings.push(Finding::Breached(Breach {
            watched,
            position,
            books: Vec::new(),
            detail: format!("event {position} does not verify ({reason}): the monitors stop here"),
        }));
        findings
    }

    fn fold_lines(&mut self, state: &State, event: &RecordedEvent, touched: &mut Touched) {
        for entry in &event.event.entries {
            touched.books.insert(entry.book);
            let settles = entry.rule.id.starts_with("settlement/");
            for line in &entry.lines {
                let code = line.account.as_str();
                if code == codes::CUSTOMER_PREPAYMENTS || code == codes::CUSTOMER_VOUCHERS {
                    let key = (entry.book, code == codes::CUSTOMER_VOUCHERS);
                    let sum = self.prepayments.entry(key).or_default();
                    *sum = sum.plus(credit_positive(line));
                    touched.prepayments.insert(key);
                }
                let Some(party) = line.party else { continue };
                if state.org(party).is_some_and(|org| org.kind == OrgKind::Customer) {
                    touched.customers.insert(party);
                }
                let receivable = code == codes::RECEIVABLES;
                if !receivable && code != codes::PAYABLES {
                    continue;
                }
                let supplier = state.org(party).is_some_and(|org| org.kind == OrgKind::Supplier);
                if !supplier && !state.books.contains_key(&party) {
                    continue;
                }
                let sum = self.counterparties.entry((entry.book, receivable, party)).or_default();
                *sum = sum.plus(line.signed());
                if supplier && !receivable {
                    touched.suppliers.insert((entry.book, party));
                    if !settles {
                        let open = self.supplier_open.entry((entry.book, party)).or_default();
                        *open = open.plus(credit_positive(line));
                    }
                } else if !supplier {
                    touched.pairs.insert(if receivable { (entry.book, party) } else { (party, entry.book) });
                }
            }
        }
    }

    fn fold_payload(&mut self, state: &State, event: &RecordedEvent, touched: &mut Touched) {
        let is_supplier = |id: OrgId| state.org(id).is_some_and(|org| org.kind == OrgKind::Supplier);
        match &event.event.payload {
            EventPayload::SettlementStatementIssued(statement) if is_supplier(statement.counterparty_id) => {
                let key = (statement.book, statement.counterparty_id);
                let open = self.supplier_open.entry(key).or_default();
                *open = open.plus(statement.payable.negated());
                let unpaid = self.supplier_unpaid.entry(key).or_default();
                *unpaid = unpaid.plus(statement.payable);
                touched.suppliers.insert(key);
            }
            EventPayload::SettlementPaid(paid) if is_supplier(paid.counterparty_id) => {
                let key = (paid.book, paid.counterparty_id);
                let unpaid = self.supplier_unpaid.entry(key).or_default();
                *unpaid = unpaid.plus(paid.payable.negated());
                touched.suppliers.insert(key);
            }
            EventPayload::LowBalanceThresholdSet(set) => {
                touched.customers.insert(set.customer_id);
            }
            payload => {
                if let Some((customer, _)) = crate::limits::voucher_delta(payload) {
                    touched.customers.insert(customer);
                }
            }
        }
    }

    /// The touched customers' wallets, as the state keeps them, into their seller's sums.
    fn fold_wallets(&mut self, state: &State, touched: &mut Touched) {
        for customer in &touched.customers {
            let Some(seller) = state.org(*customer).and_then(|org| org.parent_id) else { continue };
            let wallet = state.wallet(*customer);
            let seen = self.wallets_seen.insert(*customer, (wallet.balance, wallet.voucher)).unwrap_or_default();
            for (vouchers, now, before) in [(false, wallet.balance, seen.0), (true, wallet.voucher, seen.1)] {
                let sum = self.wallets.entry((seller, vouchers)).or_default();
                *sum = sum.add(now).sub(before);
                touched.prepayments.insert((seller, vouchers));
            }
        }
    }

    fn new_violations(&mut self, position: u64) -> Vec<Finding> {
        let fresh = &self.audit.found[self.reported..];
        let findings: Vec<Finding> = fresh
            .iter()
            .enumerate()
            .map(|(index, violation)| {
                Finding::Breached(Breach {
                    watched: Watched::Event { position, kind: violation.kind, index },
                    position,
                    books: violation.books.clone(),
                    detail: violation.detail.clone(),
                })
            })
            .collect();
        self.reported = self.audit.found.len();
        for finding in &findings {
            if let Finding::Breached(breach) = finding {
                self.open.insert(breach.watched, position);
            }
        }
        findings
    }

    fn trial_balance_off(&self, book: OrgId) -> Option<(Vec<OrgId>, String)> {
        let net = self.audit.book_net.get(&book).map(|running| running.net).unwrap_or_default();
        (!net.is_zero()).then(|| (vec![book], format!("book {book}: trial balance is off by {net}")))
    }

    /// Compares what the event touched; a comparison that newly fails is a breach, one that
    /// holds again is healed.
    fn check(&mut self, position: u64, touched: &Touched, findings: &mut Vec<Finding>) {
        for &book in &touched.books {
            self.judge(Watched::TrialBalance { book }, position, self.trial_balance_off(book), findings);
        }
        for &(book, vouchers) in &touched.prepayments {
            let ledger = self.prepayments.get(&(book, vouchers)).copied().unwrap_or_default();
            let wallets = self.wallets.get(&(book, vouchers)).copied().unwrap_or_default();
            let (account, what) = if vouchers { ("2203.01", "vouchers") } else { ("2203", "cash") };
            let off = (ledger != wallets).then(|| {
                (
                    vec![book],
                    format!("book {book}: {account} is {ledger} but its customers' wallets hold {wallets} of {what}"),
                )
            });
            self.judge(Watched::Wallets { book, vouchers }, position, off, findings);
        }
        for &(book, supplier) in &touched.suppliers {
            let owed = self.counterparties.get(&(book, false, supplier)).copied().unwrap_or_default().negated();
            let open = self.supplier_open.get(&(book, supplier)).copied().unwrap_or_default();
            let unpaid = self.supplier_unpaid.get(&(book, supplier)).copied().unwrap_or_default();
            let off = (owed != open.plus(unpaid)).then(|| {
                (
                    vec![book],
                    format!(
                        "book {book} owes supplier {supplier} {owed} on 2202, but its unpaid statements come to \
                         {unpaid} and the items on no statement to {open}"
                    ),
                )
            });
            self.judge(Watched::SupplierPayables { book, supplier }, position, off, findings);
        }
        for &(receivable_book, payable_book) in &touched.pairs {
            let receivable =
                self.counterparties.get(&(receivable_book, true, payable_book)).copied().unwrap_or_default();
            let payable =
                self.counterparties.get(&(payable_book, false, receivable_book)).copied().unwrap_or_default().negated();
            let off = (receivable != payable).then(|| {
                (
                    vec![receivable_book, payable_book],
                    format!(
                        "book {receivable_book}'s 1122 with {payable_book} is {receivable}, but {payable_book}'s 2202 \
                         with {receivable_book} is {payable}"
                    ),
                )
            });
            self.judge(Watched::Intercompany { receivable_book, payable_book }, position, off, findings);
        }
    }

    fn judge(
        &mut self,
        watched: Watched,
        position: u64,
        off: Option<(Vec<OrgId>, String)>,
        findings: &mut Vec<Finding>,
    ) {
        match (off, self.open.contains_key(&watched)) {
            (Some((books, detail)), false) => {
                self.open.insert(watched, position);
                findings.push(Finding::Breached(Breach { watched, position, books, detail }));
            }
            (None, true) => {
                self.open.remove(&watched);
                findings.push(Finding::Healed { watched, position });
            }
            _ => {}
        }
    }

    fn low_balances(&mut self, state: &State, position: u64, touched: &Touched, findings: &mut Vec<Finding>) {
        for &customer in &touched.customers {
            let Some(threshold) = state.low_balance_thresholds.get(&customer).copied() else {
                self.below.remove(&customer);
                continue;
            };
            let wallet = state.wallet(customer);
            let balance = wallet.balance.checked_add(wallet.voucher).unwrap_or(Amount::MAX);
            if balance >= threshold {
                self.below.remove(&customer);
            } else if self.below.insert(customer) {
                let book = state.org(customer).and_then(|org| org.parent_id).unwrap_or(customer);
                findings.push(Finding::LowBalance { customer, book, balance, threshold, position });
            }
        }
    }
}
