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
    let mut book_net: BTreeMap<OrgId, SignedAmount> = BTreeMap::new();
    let mut wallet_ledger: HashMap<OrgId, SignedAmount> = HashMap::new();
    let mut intercompany: BTreeMap<(OrgId, OrgId), SignedAmount> = BTreeMap::new();
    let mut pairs: BTreeMap<(u64, u32), (usize, SignedAmount)> = BTreeMap::new();
    for event in log {
        for entry in &event.event.entries {
            if !entry.imbalance().is_zero() {
                found.push(format!("event {}: unbalanced entry in book {}", event.position, entry.book));
            }
            for line in &entry.lines {
                let signed = line.signed();
                let net = book_net.entry(entry.book).or_default();
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
                    let wallet = wallet_ledger.entry(line.party.expect("has party")).or_default();
                    *wallet = wallet.plus(signed.negated());
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
                    let slot = pairs.entry((event.position, pair)).or_default();
                    slot.0 += 1;
                    slot.1 = slot.1.plus(signed);
                }
            }
        }
    }
    for (book, net) in book_net {
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
    for (customer, wallet) in &state.wallets {
        let ledger = wallet_ledger.get(customer).copied().unwrap_or_default();
        if ledger != SignedAmount::from(wallet.balance) {
            found.push(format!("customer {customer}: wallet {} but 2203 says {ledger}", wallet.balance));
        }
        if wallet.reserved > wallet.balance {
            found.push(format!("customer {customer}: reserved {} exceeds balance {}", wallet.reserved, wallet.balance));
        }
    }
    for (customer, ledger) in &wallet_ledger {
        if ledger.is_negative() {
            found.push(format!("customer {customer}: wallet below zero ({ledger})"));
        }
        if !state.wallets.contains_key(customer) && !ledger.is_zero() {
            found.push(format!("customer {customer}: 2203 {ledger} but no wallet"));
        }
    }
    for ((position, pair), (count, net)) in pairs {
        if count != 2 || !net.is_zero() {
            found.push(format!("event {position}: pair {pair} has {count} lines netting {net}"));
        }
    }
    // Book A's receivables and payables with B mirror B's with A: together they net to zero.
    for ((a, b), net) in intercompany {
        if !net.is_zero() {
            found.push(format!("books {a} and {b}: inter-company balances net to {net}"));
        }
    }
    found
}
