//! Settlement statements and payments, invoices, and period close with its certificate.

use chrono::NaiveDate;

use crate::approval_policy::{default_levels, ApprovalAction};
use crate::command::SettlementCommand;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{ApprovalId, InvoiceId, OrgId, SettlementId};
use crate::journal::Posting;
use crate::money::{Amount, Total};
use crate::org::OrgKind;
use crate::permissions::Permission;
use crate::rules::PartyRef;
use crate::state::{trial_balance_hash, Book};
use crate::statement::{Figures, Selection};

use crate::state::{Settlement, State};

use super::Decider;

fn conflict(code: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::SettlementConflict { code, reason: reason.into() }
}

impl Decider<'_> {
    pub(super) fn decide_settlement(&self, command: &SettlementCommand) -> Result<Vec<Event>, DomainError> {
        use SettlementCommand as C;
        match command {
            C::IssueSettlementStatement { settlement_id, book, counterparty_id, from, to } => {
                self.issue_statement(*settlement_id, *book, *counterparty_id, *from, *to)
            }
            C::PaySettlement { settlement_id, approval_id } => {
                self.request_settlement_payment(*settlement_id, *approval_id)
            }
            C::RequestInvoice { invoice_id, approval_id, customer_id, amount } => {
                self.request_invoice(*invoice_id, *approval_id, *customer_id, *amount)
            }
            C::ClosePeriod { book, through } => self.close_period(*book, *through),
        }
    }

    fn issue_statement(
        &self,
        settlement_id: SettlementId,
        book_id: OrgId,
        counterparty_id: OrgId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Event>, DomainError> {
        let book = self.book_for(book_id, Permission::SettlementsWrite)?;
        let counterparty = self.state.orgs.get(&counterparty_id);
        let settles_with = counterparty.is_some_and(|org| {
            org.parent_id == Some(book_id) && matches!(org.kind, OrgKind::Supplier | OrgKind::Reseller)
        });
        if !settles_with {
            return Err(DomainError::not_found("counterparty", counterparty_id));
        }
        if from > to {
            return Err(DomainError::invalid_field("to", "must not be before from"));
        }
        // A statement covers an ended period: items dated later in an open one could never be
        // settled, since the next statement must not overlap this one.
        let today = self.command.effective_date;
        if to >= today {
            return Err(DomainError::PeriodNotEnded { through: to, today });
        }
        // The same request again is answered by the statement already issued: no new event.
        if self.state.find_settlement(book_id, counterparty_id, from, to).is_some() {
            return Ok(Vec::new());
        }
        if self.state.settlements.contains_key(&settlement_id) {
            return Err(DomainError::AlreadyExists { what: "settlement", id: settlement_id.to_string() });
        }
        let overlapping = self.state.settlements.values().map(|settlement| &settlement.statement).find(|statement| {
            statement.book == book_id
                && statement.counterparty_id == counterparty_id
                && statement.from <= to
                && from <= statement.to
        });
        if let Some(statement) = overlapping {
            return Err(conflict(
                "settlement_overlap",
                format!("overlaps the statement for {} to {}", statement.from, statement.to),
            ));
        }
        let event = self.statement(settlement_id, book, counterparty_id, from, to)?;
        Ok(vec![Event::new(EventPayload::SettlementStatementIssued(event))])
    }

    /// A replay of the period: the open items with the counterparty dated within it, as of the
    /// last position, counted, netted and hashed (`crate::statement`). Deterministic, so the
    /// same inputs always give the same hash. The lines stay out of the event: replay finds them
    /// again in the state at this position.
    pub(super) fn statement(
        &self,
        settlement_id: SettlementId,
        book: &Book,
        counterparty_id: OrgId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<SettlementStatementIssued, DomainError> {
        let selection =
            Selection { book: book.org_id, counterparty_id, from, to, through_position: self.state.last_position };
        let lines = selection.lines(book);
        if lines.is_empty() {
            return Err(conflict("nothing_to_settle", "no open items with the counterparty in the period"));
        }
        let Figures { line_count, receivable, payable, statement_hash } = Figures::of(&selection, &lines);
        Ok(SettlementStatementIssued {
            settlement_id,
            book: book.org_id,
            counterparty_id,
            from,
            to,
            through_position: selection.through_position,
            receivable,
            payable,
            line_count,
            statement_hash,
        })
    }

    fn request_settlement_payment(
        &self,
        settlement_id: SettlementId,
        approval_id: ApprovalId,
    ) -> Result<Vec<Event>, DomainError> {
        let settlement =
            self.state.settlements.get(&settlement_id).filter(|settlement| self.reaches(settlement.statement.book));
        let settlement = settlement.ok_or_else(|| DomainError::not_found("settlement", settlement_id))?;
        self.require(Permission::SettlementsWrite)?;
        if settlement.paid {
            return Err(conflict("settlement_already_paid", "the statement is already paid"));
        }
        if settlement.payment_pending {
            return Err(DomainError::ApprovalPending);
        }
        self.new_approval_id(approval_id)?;
        let proposal = Proposal::PaySettlement { settlement_id };
        // Money leaving: always approved (the policy decides by whom).
        let (book, action) = (settlement.statement.book, ApprovalAction::SettlementPayment);
        let levels = self.approval_levels(book, action, None).unwrap_or_else(default_levels);
        Ok(self.routed_approval_request(approval_id, book, ApprovalKind::SettlementPayment, proposal, action, levels))
    }

    /// The effect of an approved settlement payment: the issuing book clears the counterparty's
    /// items through the bank, and a reseller counterparty books the mirror.
    pub(super) fn pay_settlement(&self, settlement_id: SettlementId) -> Result<Event, DomainError> {
        let settlement = self
            .state
            .settlements
            .get(&settlement_id)
            .ok_or_else(|| DomainError::not_found("settlement", settlement_id))?;
        if settlement.paid {
            return Err(conflict("settlement_already_paid", "the statement is already paid"));
        }
        let statement = &settlement.statement;
        let payload = EventPayload::SettlementPaid(SettlementPaid {
            settlement_id,
            book: statement.book,
            counterparty_id: statement.counterparty_id,
            receivable: statement.receivable,
            payable: statement.payable,
        });
        let mut postings = vec![Posting::new("settlement", "issuer", statement.book)
            .signed_amount("receivable", statement.receivable)
            .signed_amount("payable", statement.payable)
            .party(PartyRef::Counterparty, statement.counterparty_id)];
        if self.state.books.contains_key(&statement.counterparty_id) {
            postings.push(
                Posting::new("settlement", "counterparty", statement.counterparty_id)
                    .signed_amount("receivable", statement.receivable)
                    .signed_amount("payable", statement.payable)
                    .party(PartyRef::Counterparty, statement.book),
            );
        }
        self.booked(payload, &postings)
    }

    fn request_invoice(
        &self,
        invoice_id: InvoiceId,
        approval_id: ApprovalId,
        customer_id: OrgId,
        amount: Amount,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, book) = self.customer_for(customer_id, Permission::InvoicesWrite)?;
        if self.state.invoice_requests.contains_key(&invoice_id) || self.state.issued_invoices.contains(&invoice_id) {
            return Err(DomainError::AlreadyExists { what: "invoice", id: invoice_id.to_string() });
        }
        if amount.is_zero() {
            return Err(DomainError::invalid_amount("amount", crate::money::MoneyError::Zero));
        }
        self.check_invoiceable(customer_id, amount, true)?;
        self.new_approval_id(approval_id)?;
        let proposal = Proposal::IssueInvoice { invoice_id, customer_id, amount };
        Ok(vec![self.approval_request(approval_id, book, ApprovalKind::Invoice, proposal)])
    }

    /// Paid, not yet invoiced, less what pending requests already ask for (when `new`).
    fn check_invoiceable(&self, customer_id: OrgId, amount: Amount, new: bool) -> Result<(), DomainError> {
        let invoiceable = self.state.invoiceable.get(&customer_id).copied().unwrap_or_default();
        // Pending requests each passed this check: together they are within the invoiceable total.
        let mut open = invoiceable;
        for request in self.state.invoice_requests.values().filter(|request| new && request.customer_id == customer_id)
        {
            open = open.saturating_sub(request.amount);
        }
        if Total::from(amount) > open {
            // What is open is at most what was asked for here, so it is an amount.
            let invoiceable = open.to_amount().unwrap_or(Amount::MAX);
            return Err(DomainError::InvoiceExceedsInvoiceable { requested: amount, invoiceable });
        }
        Ok(())
    }

    pub(super) fn issue_invoice(
        &self,
        invoice_id: InvoiceId,
        customer_id: OrgId,
        amount: Amount,
    ) -> Result<Event, DomainError> {
        self.check_invoiceable(customer_id, amount, false)?;
        let book = self.state.orgs[&customer_id].parent_id.expect("customers have a seller");
        let event = InvoiceIssued { invoice_id, customer_id, book, amount };
        Ok(Event::new(EventPayload::InvoiceIssued(event)))
    }

    fn close_period(&self, book_id: OrgId, through: NaiveDate) -> Result<Vec<Event>, DomainError> {
        let book = self.book_for(book_id, Permission::PeriodsClose)?;
        let today = self.command.effective_date;
        if through >= today {
            return Err(DomainError::PeriodNotEnded { through, today });
        }
        if let Some(closed_through) = book.closed_through.filter(|closed| through <= *closed) {
            return Err(DomainError::PeriodAlreadyClosed { book: book_id, closed_through });
        }
        let rows = book.trial_balance(through);
        // Every column sums to the book's posted total at most, which is within `TOTAL_MAX`.
        let (total_debit, total_credit) = rows.iter().fold((Total::ZERO, Total::ZERO), |(debit, credit), row| {
            (debit.plus_total(row.debit), credit.plus_total(row.credit))
        });
        assert_eq!(total_debit, total_credit, "a book's trial balance sums to zero");
        let certificate = CloseCertificate {
            book: book_id,
            through,
            trial_balance_hash: trial_balance_hash(&rows),
            total_debit,
            total_credit,
            last_position: self.state.last_position,
            rule_versions: self.state.rules.iter().map(|rule| (rule.id(), rule.version)).collect(),
        };
        Ok(vec![Event::new(EventPayload::PeriodClosed(PeriodClosed { book: book_id, through, certificate }))])
    }
}

// The folds of this family's events into the state (see `State::evolve`).

/// The statement's lines are no longer open: the same selection the decider made (replay has
/// checked the event's figures against it, `log::verify_next`).
pub(super) fn settlement_statement_issued(state: &mut State, event: &SettlementStatementIssued) {
    let book = state.books.get_mut(&event.book).expect("settling an open book");
    let selection = Selection::of(event);
    if let Some(items) = book.open_items.get_mut(&event.counterparty_id) {
        items.retain(|item| !selection.covers(item));
    }
    state
        .settlements
        .insert(event.settlement_id, Settlement { statement: event.clone(), paid: false, payment_pending: false });
}

pub(super) fn settlement_paid(state: &mut State, event: &SettlementPaid) {
    let settlement = state.settlements.get_mut(&event.settlement_id).expect("known settlement");
    settlement.paid = true;
    settlement.payment_pending = false;
}

pub(super) fn invoice_issued(state: &mut State, event: &InvoiceIssued) {
    state.invoice_requests.remove(&event.invoice_id);
    state.issued_invoices.insert(event.invoice_id);
    let invoiceable = state.invoiceable.entry(event.customer_id).or_default();
    *invoiceable = invoiceable.checked_sub(event.amount).expect("an invoice the decider checked");
}

pub(super) fn period_closed(state: &mut State, event: &PeriodClosed) {
    state.books.get_mut(&event.book).expect("closing an open book").closed_through = Some(event.through);
}
