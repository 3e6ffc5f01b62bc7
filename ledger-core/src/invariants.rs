//! The ledger's invariants, checked over a log and the state folded from it. Property tests run
//! this after every command; `kboss verify` runs it over a whole store.

use std::collections::{BTreeMap, HashMap};

use crate::chart::codes;
use crate::event::RecordedEvent;
use crate::ids::OrgId;
use crate::money::SignedAmount;
use crate::org::OrgKind;
use crate::state::State;

/// Every broken invariant, described; empty when the books are sound.
pub fn violations(state: &State, log: &[RecordedEvent]) -> Vec<String> {
    let mut found = Vec::new();
    let sums = fold_lines(state, log, &mut found);
    check_books(state, &sums, &mut found);
    check_wallets(state, &sums, &mut found);
    check_pairs(&sums, &mut found);
    check_intercompany(&sums, &mut found);
    found
}

/// What the log's lines sum to, by book, wallet, pair of books and inter-company pair id.
#[derive(Default)]
struct Sums {
    book_net: BTreeMap<OrgId, SignedAmount>,
    wallet_ledger: HashMap<OrgId, SignedAmount>,
    intercompany: BTreeMap<(OrgId, OrgId), SignedAmount>,
    pairs: BTreeMap<(u64, u32), (usize, SignedAmount)>,
}

/// Sums every line of the log; an unbalanced entry or a customer line outside its seller's
/// book is found on the way.
fn fold_lines(state: &State, log: &[RecordedEvent], found: &mut Vec<String>) -> Sums {
    let mut sums = Sums::default();
    for event in log {
        for entry in &event.event.entries {
            if !entry.imbalance().is_zero() {
                found.push(format!("event {}: unbalanced entry in book {}", event.position, entry.book));
            }
            for line in &entry.lines {
                let signed = line.signed();
                let net = sums.book_net.entry(entry.book).or_default();
                *net = net.plus(signed);
                let party_org = line.party.and_then(|party| state.org(party));
                let party_kind = party_org.map(|org| org.kind);
                // A customer is a party of its seller's book only: its wallet is its 2203 there.
                if let Some(customer) = party_org.filter(|org| org.kind == OrgKind::Customer) {
                    if customer.parent_id != Some(entry.book) {
                        found.push(format!(
                            "event {}: customer {} has a line in book {}, not its seller's",
                            event.position, customer.id, entry.book
                        ));
                    }
                }
                if line.account.as_str() == codes::CUSTOMER_PREPAYMENTS && party_kind == Some(OrgKind::Customer) {
                    let wallet = sums.wallet_ledger.entry(line.party.expect("has party")).or_default();
                    *wallet = wallet.plus(signed.negated());
                }
                if let Some(party) = line.party.filter(|party| state.books.contains_key(party)) {
                    let code = line.account.as_str();
                    if code == codes::RECEIVABLES || code == codes::PAYABLES {
                        let key = (entry.book.min(party), entry.book.max(party));
                        let sum = sums.intercompany.entry(key).or_default();
                        *sum = sum.plus(signed);
                    }
                }
                if let Some(pair) = line.pair {
                    let slot = sums.pairs.entry((event.position, pair)).or_default();
                    slot.0 += 1;
                    slot.1 = slot.1.plus(signed);
                }
            }
        }
    }
    sums
}

/// Every book's trial balance sums to zero, from the log and from the state.
fn check_books(state: &State, sums: &Sums, found: &mut Vec<String>) {
    for (book, net) in &sums.book_net {
        if !net.is_zero() {
            found.push(format!("book {book}: trial balance is off by {net}"));
        }
    }
    for (book_id, book) in &state.books {
        let rows = book.trial_balance(chrono::NaiveDate::MAX);
        let net = rows.iter().fold(SignedAmount::ZERO, |sum, row| sum.add_total(row.debit).sub_total(row.credit));
        if !net.is_zero() {
            found.push(format!("book {book_id}: state trial balance is off by {net}"));
        }
    }
}

/// Every wallet is its 2203 balance, never below zero, never holding more than it has.
fn check_wallets(state: &State, sums: &Sums, found: &mut Vec<String>) {
    for (customer, wallet) in &state.wallets {
        let ledger = sums.wallet_ledger.get(customer).copied().unwrap_or_default();
        if ledger != SignedAmount::from(wallet.balance) {
            found.push(format!("customer {customer}: wallet {} but 2203 says {ledger}", wallet.balance));
        }
        if wallet.reserved > wallet.balance {
            found.push(format!("customer {customer}: reserved {} exceeds balance {}", wallet.reserved, wallet.balance));
        }
    }
    for (customer, ledger) in &sums.wallet_ledger {
        if ledger.is_negative() {
            found.push(format!("customer {customer}: wallet below zero ({ledger})"));
        }
        if !state.wallets.contains_key(customer) && !ledger.is_zero() {
            found.push(format!("customer {customer}: 2203 {ledger} but no wallet"));
        }
    }
}

/// Every pair id joins exactly two lines that net to zero.
fn check_pairs(sums: &Sums, found: &mut Vec<String>) {
    for ((position, pair), (count, net)) in &sums.pairs {
        if *count != 2 || !net.is_zero() {
            found.push(format!("event {position}: pair {pair} has {count} lines netting {net}"));
        }
    }
}

/// Book A's receivables and payables with B mirror B's with A: together they net to zero.
fn check_intercompany(sums: &Sums, found: &mut Vec<String>) {
    for ((a, b), net) in &sums.intercompany {
        if !net.is_zero() {
            found.push(format!("books {a} and {b}: inter-company balances net to {net}"));
        }
    }
}
