//! Settlement statements and payments, invoices, and period close with its certificate.

use chrono::NaiveDate;

use crate::approval_policy::{default_levels, ApprovalAction};
use crate::chart::codes;
use crate::command::SettlementCommand;
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{ApprovalId, InvoiceId, OrgId, SettlementId};
use crate::journal::Posting;
use crate::money::{Amount, Total};
use crate::org::OrgKind;
use crate::permissions::Permission;
use crate::reconcile;
use crate::rules::PartyRef;
use crate::state::{trial_balance_hash, Book};
use crate::statement::{Figures, Selection};

use crate::state::{Settlement, State};

use super::{prose_field, Decider};

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
            C::RequestPeriodReopen { approval_id, book, through, reason } => {
                self.request_period_reopen(*approval_id, *book, *through, reason)
            }
            C::RecordReconciliation {
                reconciliation_id,
                book,
                account,
                format,
                statement_sha256,
                tolerance,
                through_position,
                statement,
                ledger,
            } => {
                let recorded = ReconciliationRecorded {
                    reconciliation_id: *reconciliation_id,
                    book: *book,
                    account: account.clone(),
                    format: *format,
                    statement_sha256: statement_sha256.clone(),
                    tolerance: *tolerance,
                    through_position: *through_position,
                    statement: statement.clone(),
                    ledger: ledger.clone(),
                    groups: Vec::new(),
                };
                self.record_reconciliation(recorded)
            }
        }
    }

    /// A request to reopen the book's last closed period: a written reason, and always an
    /// approval (`ApprovalAction::PeriodReopen` is mandatory; the policy says by whom).
    fn request_period_reopen(
        &self,
        approval_id: ApprovalId,
        book_id: OrgId,
        through: NaiveDate,
        reason: &str,
    ) -> Result<Vec<Event>, DomainError> {
        let book = self.book_for(book_id, Permission::PeriodsReopen)?;
        let reason = prose_field("reason", reason)?;
        last_close(book, through)?;
        self.new_approval_id(approval_id)?;
        let pending = self.state.approvals.values().any(|approval| {
            approval.decision == crate::state::Decision::Pending
                && matches!(approval.request.proposal, Proposal::ReopenPeriod { book, .. } if book == book_id)
        });
        if pending {
            return Err(DomainError::ApprovalPending);
        }
        let proposal = Proposal::ReopenPeriod { book: book_id, through, reason };
        let action = ApprovalAction::PeriodReopen;
        let levels = self.approval_levels(book_id, action, None).unwrap_or_else(default_levels);
        Ok(self.routed_approval_request(approval_id, book_id, ApprovalKind::PeriodReopen, proposal, action, levels))
    }

    /// The effect of an approved reopen, judged again on today's state: the period must still
    /// be the book's last closed one. The reopened period's trial balance goes with it, for the
    /// reopen's certificate.
    pub(super) fn period_reopened(
        &self,
        request: &ApprovalRequested,
        book_id: OrgId,
        through: NaiveDate,
        reason: &str,
    ) -> Result<Event, DomainError> {
        let book = self.state.books.get(&book_id).ok_or_else(|| DomainError::not_found("book", book_id))?;
        let close_position = last_close(book, through)?;
        let closed_through = book.closes.len().checked_sub(2).map(|index| book.closes[index].0);
        let rows = book.trial_balance(through);
        let (total_debit, total_credit) = rows.iter().fold((Total::ZERO, Total::ZERO), |(debit, credit), row| {
            (debit.plus_total(row.debit), credit.plus_total(row.credit))
        });
        let reopened = PeriodReopened {
            book: book_id,
            through,
            closed_through,
            close_position,
            reason: reason.to_owned(),
            approval_id: request.approval_id,
            requested_by: request.requested_by,
            trial_balance_hash: trial_balance_hash(&rows),
            total_debit,
            total_credit,
            last_position: self.state.last_position,
        };
        Ok(Event::new(EventPayload::PeriodReopened(reopened)))
    }

    /// A reconciliation, matched here (`crate::reconcile`) from what the gateway read: the
    /// statement's rows and the book's lines on 1002 or 1012 at or before `through_position`.
    fn record_reconciliation(&self, mut recorded: ReconciliationRecorded) -> Result<Vec<Event>, DomainError> {
        self.book_for(recorded.book, Permission::ReconciliationsWrite)?;
        if ![codes::BANK, codes::CHANNEL_CLEARING].contains(&recorded.account.as_str()) {
            return Err(DomainError::invalid_field("account", "a reconciliation is of 1002 or 1012"));
        }
        if self.state.reconciliations.contains(&recorded.reconciliation_id) {
            return Err(DomainError::AlreadyExists {
                what: "reconciliation",
                id: recorded.reconciliation_id.to_string(),
            });
        }
        if recorded.through_position > self.state.last_position {
            return Err(DomainError::invalid_field("through_position", "is past the log's last position"));
        }
        let hash = &recorded.statement_sha256;
        if hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(DomainError::invalid_field("statement_sha256", "64 hex digits"));
        }
        reconcile::check_inputs(&recorded.statement, &recorded.ledger, recorded.tolerance)?;
        recorded.groups = reconcile::reconcile(&recorded.statement, &recorded.ledger, recorded.tolerance);
        Ok(vec![Event::new(EventPayload::ReconciliationRecorded(recorded))])
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
    fn statement(
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

/// The position of the book's last close, when it is through `through`; else the refusal that
/// names what the book is closed through.
fn last_close(book: &Book, through: NaiveDate) -> Result<u64, DomainError> {
    match book.closes.last() {
        Some((closed, position)) if *closed == through => Ok(*position),
        Some((closed, _)) => Err(conflict(
            "period_not_closed",
            format!("the book's last closed period ends on {closed}, not {through}: reopen that one first"),
        )),
        None => Err(conflict("period_not_closed", "the book has no closed period")),
    }
}

pub(super) fn period_closed(state: &mut State, event: &PeriodClosed, position: u64) {
    let book = state.books.get_mut(&event.book).expect("closing an open book");
    book.closed_through = Some(event.through);
    book.closes.push((event.through, position));
}

pub(super) fn period_reopened(state: &mut State, event: &PeriodReopened) {
    let book = state.books.get_mut(&event.book).expect("reopening an open book");
    book.closes.pop();
    book.closed_through = book.closes.last().map(|(through, _)| *through);
}

pub(super) fn reconciliation_recorded(state: &mut State, event: &ReconciliationRecorded) {
    state.reconciliations.insert(event.reconciliation_id);
}
