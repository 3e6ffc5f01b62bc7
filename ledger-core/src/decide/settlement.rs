//! Settlement statements and payments, invoices, and period close with its certificate.

use chrono::NaiveDate;

use crate::approval_policy::{default_levels, ApprovalAction};
use crate::chart::{codes, exchange_account, AccountCode, Side};
use crate::command::{default_tax_rate, InvoiceDetails, SettlementCommand};
use crate::error::DomainError;
use crate::event::*;
use crate::ids::{ApprovalId, InvoiceId, OrgId, SettlementId};
use crate::journal::{Entry, Line, Posting};
use crate::money::{checked_mul, round_half_up, Amount, SignedAmount, Total, AMOUNT_DECIMALS_MAX};
use crate::org::OrgKind;
use crate::permissions::Permission;
use crate::pricing::PricedItem;
use crate::reconcile;
use crate::rules::PartyRef;
use crate::rules::RuleRef;
use crate::state::{trial_balance_hash, Book};
use crate::statement::{Figures, Selection};

use crate::state::{ForeignItem, ForeignPart, Invoice, InvoiceRequest, InvoiceStatus, Settlement, State};
use rust_decimal::RoundingStrategy;

use super::{prose_field, text_field, Decider};

/// Orders one invoice may name.
pub const INVOICE_ORDERS_MAX: usize = 100;

/// Lines one manual entry may have.
pub const MANUAL_LINES_MAX: usize = 100;
/// The rule a manual entry's lines name: a person's, not a posting rule's.
pub const MANUAL_RULE_ID: &str = "manual/entry";

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
            C::RequestInvoice { invoice_id, approval_id, customer_id, amount, details: None } => {
                self.request_invoice(*invoice_id, *approval_id, *customer_id, *amount)
            }
            C::RequestInvoice { invoice_id, approval_id, customer_id, amount, details: Some(details) } => {
                self.request_detailed_invoice(*invoice_id, *approval_id, *customer_id, *amount, details)
            }
            C::IssueInvoice { invoice_id } => {
                let invoice = self.invoice_to_handle(*invoice_id)?;
                if invoice.status != InvoiceStatus::Requested {
                    return Err(invoice_state(*invoice_id, invoice.status, "issued"));
                }
                if invoice.invoice_type == InvoiceType::Special {
                    let reason = format!("invoice {invoice_id} is special: its approval issues it");
                    return Err(DomainError::conflict("invoice_needs_approval", reason));
                }
                Ok(vec![self.issue_invoice(*invoice_id, invoice.customer_id, invoice.amount)?])
            }
            C::DeliverInvoice { invoice_id } => {
                let invoice = self.invoice_to_handle(*invoice_id)?;
                if invoice.status != InvoiceStatus::Issued {
                    return Err(invoice_state(*invoice_id, invoice.status, "delivered"));
                }
                Ok(vec![Event::new(EventPayload::InvoiceDelivered(InvoiceDelivered { invoice_id: *invoice_id }))])
            }
            C::VoidInvoice { invoice_id, reason } => {
                let invoice = self.invoice_to_handle(*invoice_id)?;
                let special_waiting =
                    invoice.status == InvoiceStatus::Requested && invoice.invoice_type == InvoiceType::Special;
                let amount = match invoice.status {
                    InvoiceStatus::Requested if !special_waiting => Amount::ZERO,
                    InvoiceStatus::Issued => invoice.amount.minus(invoice.red_lettered),
                    status => return Err(invoice_state(*invoice_id, status, "voided")),
                };
                let event = InvoiceVoided {
                    invoice_id: *invoice_id,
                    customer_id: invoice.customer_id,
                    book: invoice.book,
                    amount,
                    reason: prose_field("reason", reason)?,
                };
                Ok(vec![Event::new(EventPayload::InvoiceVoided(event))])
            }
            C::RedLetterInvoice { invoice_id, red_invoice_id, amount, reason } => {
                let invoice = self.invoice_to_handle(*invoice_id)?;
                if !matches!(invoice.status, InvoiceStatus::Issued | InvoiceStatus::Delivered) {
                    return Err(invoice_state(*invoice_id, invoice.status, "red-lettered"));
                }
                if self.state.invoices.contains_key(red_invoice_id) {
                    return Err(DomainError::AlreadyExists { what: "invoice", id: red_invoice_id.to_string() });
                }
                let left = invoice.amount.minus(invoice.red_lettered);
                if amount.is_zero() {
                    return Err(DomainError::invalid_amount("amount", crate::money::MoneyError::Zero));
                }
                if *amount > left {
                    return Err(DomainError::invalid_field(
                        "amount",
                        format!("at most {left}: what the invoice still covers"),
                    ));
                }
                let event = InvoiceRedLettered {
                    invoice_id: *invoice_id,
                    red_invoice_id: *red_invoice_id,
                    customer_id: invoice.customer_id,
                    book: invoice.book,
                    amount: *amount,
                    tax_amount: tax_in(*amount, invoice.tax_rate)?,
                    reason: prose_field("reason", reason)?,
                };
                Ok(vec![Event::new(EventPayload::InvoiceRedLettered(event))])
            }
            C::ClosePeriod { book, through } => self.close_period(*book, *through),
            C::RequestManualEntry { approval_id, book, date, lines, memo } => {
                self.request_manual_entry(*approval_id, *book, *date, lines, memo)
            }
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

    fn request_manual_entry(
        &self,
        approval_id: ApprovalId,
        book_id: OrgId,
        date: NaiveDate,
        lines: &[Line],
        memo: &str,
    ) -> Result<Vec<Event>, DomainError> {
        self.book_for(book_id, Permission::AccountsWrite)?;
        self.new_approval_id(approval_id)?;
        let memo = prose_field("memo", memo)?;
        let entry = self.manual_entry(book_id, date, lines)?;
        let total = entry
            .lines
            .iter()
            .filter(|line| line.side == Side::Debit)
            .fold(Total::ZERO, |sum, line| sum.plus(line.amount));
        let total = total.to_amount().map_err(|error| DomainError::invalid_amount("lines", error))?;
        match self.approval_levels(book_id, ApprovalAction::ManualJournalEntry, Some(total)) {
            None => Ok(vec![Event::with_entries(
                EventPayload::ManualEntryBooked(ManualEntryBooked { approval_id, book: book_id, memo }),
                vec![entry],
            )]),
            Some(levels) => {
                let proposal = Proposal::BookManualEntry { date, lines: entry.lines, memo };
                let action = ApprovalAction::ManualJournalEntry;
                Ok(self.routed_approval_request(
                    approval_id,
                    book_id,
                    ApprovalKind::ManualEntry,
                    proposal,
                    action,
                    levels,
                ))
            }
        }
    }

    /// A manual entry as a person wrote it, checked: 2 to `MANUAL_LINES_MAX` lines of positive
    /// amounts on accounts open in the book, parties of the book (or its parent), debits equal
    /// to credits, dated in an open period.
    pub(super) fn manual_entry(&self, book_id: OrgId, date: NaiveDate, lines: &[Line]) -> Result<Entry, DomainError> {
        let book = self.state.books.get(&book_id).ok_or_else(|| DomainError::not_found("book", book_id))?;
        if let Some(closed_through) = book.closed_through.filter(|closed| date <= *closed) {
            return Err(DomainError::PeriodClosed { book: book_id, closed_through, date });
        }
        if lines.len() < 2 || lines.len() > MANUAL_LINES_MAX {
            return Err(DomainError::invalid_field("lines", format!("an entry has 2 to {MANUAL_LINES_MAX} lines")));
        }
        let (mut debit, mut credit) = (Total::ZERO, Total::ZERO);
        let mut checked = Vec::with_capacity(lines.len());
        for (index, line) in lines.iter().enumerate() {
            if line.amount.is_zero() {
                return Err(DomainError::invalid_amount(
                    format!("lines[{index}].amount"),
                    crate::money::MoneyError::Zero,
                ));
            }
            if !book.chart.contains(&line.account) {
                return Err(DomainError::AccountNotOpen { book: book_id, account: line.account.clone() });
            }
            if let Some(party) = line.party {
                // A customer's vouchers (2203.01) are its grants and its receivable (1122) its
                // arrears, each kept by the flows that book them: a person's entry would set
                // them apart from the state.
                let customer = self.state.orgs.get(&party).is_some_and(|org| org.kind == OrgKind::Customer);
                let code = line.account.as_str();
                if customer && (code == codes::CUSTOMER_VOUCHERS || code == codes::RECEIVABLES) {
                    return Err(DomainError::invalid_field(
                        format!("lines[{index}].account"),
                        "a customer's vouchers and arrears are booked by their own flows",
                    ));
                }
                let org = self.state.orgs.get(&party);
                let of_book = org.is_some_and(|org| {
                    org.parent_id == Some(book_id)
                        || Some(org.id) == self.state.orgs.get(&book_id).and_then(|own| own.parent_id)
                });
                if !of_book {
                    return Err(DomainError::invalid_field(format!("lines[{index}].party"), "not a party of the book"));
                }
            }
            match line.side {
                Side::Debit => debit = debit.plus(line.amount),
                Side::Credit => credit = credit.plus(line.amount),
            }
            checked.push(Line {
                account: line.account.clone(),
                party: line.party,
                side: line.side,
                amount: line.amount,
                pair: None,
            });
        }
        if debit != credit {
            return Err(DomainError::invalid_field("lines", format!("debits {debit} and credits {credit} differ")));
        }
        let rule = RuleRef { id: MANUAL_RULE_ID.to_owned(), version: 0 };
        Ok(Entry { book: book_id, date, currency: book.currency, rule, lines: checked })
    }

    /// The effect of an approved manual entry, checked again against today's state.
    pub(super) fn book_manual_entry(
        &self,
        approval_id: ApprovalId,
        book_id: OrgId,
        date: NaiveDate,
        lines: &[Line],
        memo: &str,
    ) -> Result<Event, DomainError> {
        let entry = self.manual_entry(book_id, date, lines)?;
        let payload =
            EventPayload::ManualEntryBooked(ManualEntryBooked { approval_id, book: book_id, memo: memo.to_owned() });
        Ok(Event::with_entries(payload, vec![entry]))
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
        // What is owed in a foreign currency needs a rate to be paid at: asked for before anyone
        // is asked to approve (the grant converts again, at the rate of its day).
        self.paid_in_foreign_currencies(settlement.statement.book, &settlement.foreign)?;
        self.new_approval_id(approval_id)?;
        let proposal = Proposal::PaySettlement { settlement_id };
        // Money leaving: always approved (the policy decides by whom).
        let (book, action) = (settlement.statement.book, ApprovalAction::SettlementPayment);
        let levels = self.approval_levels(book, action, None).unwrap_or_else(default_levels);
        Ok(self.routed_approval_request(approval_id, book, ApprovalKind::SettlementPayment, proposal, action, levels))
    }

    /// The effect of an approved settlement payment: the issuing book clears the counterparty's
    /// items through the bank, and a reseller counterparty books the mirror. What is owed in a
    /// foreign currency is paid at the book's rate of the day, and the difference from what it
    /// was booked at is booked to 6603 (opened with the first).
    pub(super) fn pay_settlement(&self, settlement_id: SettlementId) -> Result<Vec<Event>, DomainError> {
        let settlement = self
            .state
            .settlements
            .get(&settlement_id)
            .ok_or_else(|| DomainError::not_found("settlement", settlement_id))?;
        if settlement.paid {
            return Err(conflict("settlement_already_paid", "the statement is already paid"));
        }
        let statement = &settlement.statement;
        let exchange = self.paid_in_foreign_currencies(statement.book, &settlement.foreign)?;
        let difference = exchange.iter().fold(SignedAmount::ZERO, |total, part| total.plus(part.difference));
        let payload = EventPayload::SettlementPaid(SettlementPaid {
            settlement_id,
            book: statement.book,
            counterparty_id: statement.counterparty_id,
            receivable: statement.receivable,
            payable: statement.payable,
            exchange,
        });
        let mut postings = vec![Posting::new("settlement", "issuer", statement.book)
            .signed_amount("receivable", statement.receivable)
            .signed_amount("payable", statement.payable)
            .party(PartyRef::Counterparty, statement.counterparty_id)];
        let mut events = Vec::new();
        let exchange_code = AccountCode::known(codes::EXCHANGE_DIFFERENCES);
        if !difference.is_zero() {
            postings.push(
                Posting::new("settlement.exchange", "issuer", statement.book).signed_amount("difference", difference),
            );
            if !self.state.books.get(&statement.book).is_some_and(|book| book.chart.contains(&exchange_code)) {
                let opened = AccountOpened { book: statement.book, account: exchange_account() };
                events.push(Event::new(EventPayload::AccountOpened(opened)));
            }
        }
        if self.state.books.contains_key(&statement.counterparty_id) {
            postings.push(
                Posting::new("settlement", "counterparty", statement.counterparty_id)
                    .signed_amount("receivable", statement.receivable)
                    .signed_amount("payable", statement.payable)
                    .party(PartyRef::Counterparty, statement.book),
            );
        }
        events.push(self.booked_with(payload, &postings, &[exchange_code])?);
        Ok(events)
    }

    /// Each foreign part of a settlement, paid at the book's latest rate for its currency dated
    /// on or before today: `paid = round(owed × rate)`, `difference = paid - booked`. Without a
    /// rate the payment waits (409 `exchange_rate_missing`).
    fn paid_in_foreign_currencies(
        &self,
        book: OrgId,
        parts: &[ForeignPart],
    ) -> Result<Vec<SettlementExchange>, DomainError> {
        let today = self.command.effective_date;
        let mut paid = Vec::new();
        for part in parts.iter().filter(|part| !(part.owed.is_zero() && part.booked.is_zero())) {
            let currency = part.currency;
            let rates = self.state.exchange_rates.get(&(book, currency));
            let Some((rate_date, (rate, source))) = rates.and_then(|rates| rates.range(..=today).next_back()) else {
                let reason = format!("book {book} owes {currency} and has no {currency} rate on or before {today}");
                return Err(DomainError::conflict("exchange_rate_missing", reason));
            };
            let cost = checked_mul(part.owed.as_decimal(), rate.as_decimal())
                .map_err(|error| DomainError::invalid_amount("owed", error))?;
            let cost = SignedAmount::from_decimal(
                cost.round_dp_with_strategy(AMOUNT_DECIMALS_MAX, RoundingStrategy::MidpointAwayFromZero),
            );
            paid.push(SettlementExchange {
                currency,
                owed: part.owed,
                booked: part.booked,
                rate: *rate,
                source: source.clone(),
                rate_date: *rate_date,
                paid: cost,
                difference: cost.plus(part.booked.negated()),
            });
        }
        Ok(paid)
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

    fn request_detailed_invoice(
        &self,
        invoice_id: InvoiceId,
        approval_id: ApprovalId,
        customer_id: OrgId,
        amount: Amount,
        details: &InvoiceDetails,
    ) -> Result<Vec<Event>, DomainError> {
        let (_, book) = self.customer_for(customer_id, Permission::InvoicesWrite)?;
        if self.state.invoices.contains_key(&invoice_id) || self.state.invoice_requests.contains_key(&invoice_id) {
            return Err(DomainError::AlreadyExists { what: "invoice", id: invoice_id.to_string() });
        }
        if amount.is_zero() {
            return Err(DomainError::invalid_amount("amount", crate::money::MoneyError::Zero));
        }
        let special = details.invoice_type == InvoiceType::Special;
        let required = |field: &str, value: &Option<String>| match value {
            Some(text) => text_field(field, text).map(Some),
            None if special => Err(DomainError::invalid_field(field, "a special invoice carries it")),
            None => Ok(None),
        };
        let (tax_id, address, bank_account) = (
            required("tax_id", &details.tax_id)?,
            required("address", &details.address)?,
            required("bank_account", &details.bank_account)?,
        );
        if details.order_ids.len() > INVOICE_ORDERS_MAX {
            return Err(DomainError::invalid_field("order_ids", format!("at most {INVOICE_ORDERS_MAX} orders")));
        }
        let mut covered = Amount::ZERO;
        for (index, order_id) in details.order_ids.iter().enumerate() {
            let order = self.state.orders.get(order_id).filter(|order| order.customer_id == customer_id);
            let order = order.ok_or_else(|| {
                DomainError::invalid_field(format!("order_ids[{index}]"), "not an order of the customer")
            })?;
            let paid = order.paid.checked_sub(order.refunded).unwrap_or(Amount::ZERO);
            if paid.is_zero() {
                return Err(DomainError::invalid_field(format!("order_ids[{index}]"), "the order has nothing paid"));
            }
            covered = covered.try_add(paid).map_err(|error| DomainError::invalid_amount("order_ids", error))?;
        }
        if !details.order_ids.is_empty() && amount > covered {
            return Err(DomainError::invalid_field("amount", format!("more than the {covered} its orders paid")));
        }
        self.check_invoiceable(customer_id, amount, true)?;
        let tax_rate = match details.tax_rate {
            Some(rate) => rate,
            None => default_tax_rate(),
        };
        let event = InvoiceRequested {
            invoice_id,
            customer_id,
            book,
            invoice_type: details.invoice_type,
            title: text_field("title", &details.title)?,
            tax_id,
            address,
            bank_account,
            order_ids: details.order_ids.clone(),
            amount,
            tax_rate,
            tax_amount: tax_in(amount, tax_rate)?,
        };
        let mut events = vec![Event::new(EventPayload::InvoiceRequested(event))];
        if special {
            self.new_approval_id(approval_id)?;
            let proposal = Proposal::IssueInvoice { invoice_id, customer_id, amount };
            events.push(self.approval_request(approval_id, book, ApprovalKind::Invoice, proposal));
        }
        Ok(events)
    }

    /// An invoice of the actor's book, which its finance handles (`invoices.issue`).
    fn invoice_to_handle(&self, invoice_id: InvoiceId) -> Result<&Invoice, DomainError> {
        let invoice = self.state.invoices.get(&invoice_id).filter(|invoice| self.reaches(invoice.book));
        let invoice = invoice.ok_or_else(|| DomainError::not_found("invoice", invoice_id))?;
        self.book_for(invoice.book, Permission::InvoicesIssue)?;
        Ok(invoice)
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
    // The foreign parts of the lines it covers, summed by currency, go with it.
    let mut foreign: Vec<ForeignPart> = Vec::new();
    if let Some(items) = state.foreign_payables.get_mut(&(event.book, event.counterparty_id)) {
        items.retain(|item| {
            if !selection.covers_at(item.position, item.date) {
                return true;
            }
            match foreign.iter_mut().find(|part| part.currency == item.part.currency) {
                Some(part) => {
                    part.owed = part.owed.plus(item.part.owed);
                    part.booked = part.booked.plus(item.part.booked);
                }
                None => foreign.push(item.part),
            }
            false
        });
    }
    let settlement = Settlement { statement: event.clone(), paid: false, payment_pending: false, foreign };
    state.settlements.insert(event.settlement_id, settlement);
}

/// The foreign parts of the supplier payables an event books or reverses, kept beside the
/// open lines they belong to (`State::foreign_payables`): a sale's items priced in a foreign
/// currency owe their supplier in it; a refund reverses its share, cumulatively, as it reverses
/// the cost (the refund that completes the order reverses what is left). Folded before the
/// event's own fold, so an order's refunds so far are the ones before this.
pub(super) fn foreign_payables(state: &mut State, recorded: &RecordedEvent) {
    let moved: Vec<(OrgId, OrgId, ForeignPart)> = match &recorded.event.payload {
        EventPayload::OrderPaid(paid) => {
            state.orders.get(&paid.order_id).map_or_else(Vec::new, |order| foreign_costs(&order.items))
        }
        EventPayload::UsageCharged(charged) => foreign_costs(std::slice::from_ref(&charged.item)),
        EventPayload::SubscriptionRenewed(renewed) => foreign_costs(&renewed.items),
        EventPayload::OrderRefunded(refunded) => {
            let Some(order) = state.orders.get(&refunded.order_id) else { return };
            let open = |value: SignedAmount, refunded: Amount| -> SignedAmount {
                if refunded >= order.paid {
                    return SignedAmount::ZERO;
                }
                let still = checked_mul(value.as_decimal(), order.paid.minus(refunded).as_decimal())
                    .expect("a part within range times an amount")
                    / order.paid.as_decimal();
                SignedAmount::from_decimal(
                    still.round_dp_with_strategy(AMOUNT_DECIMALS_MAX, RoundingStrategy::MidpointAwayFromZero),
                )
            };
            foreign_costs(&order.items)
                .into_iter()
                .map(|(book, supplier, part)| {
                    let reverse = |value: SignedAmount| {
                        open(value, refunded.refunded_total).plus(open(value, order.refunded).negated())
                    };
                    (
                        book,
                        supplier,
                        ForeignPart { currency: part.currency, owed: reverse(part.owed), booked: reverse(part.booked) },
                    )
                })
                .collect()
        }
        _ => return,
    };
    for (book, supplier, part) in moved {
        if part.owed.is_zero() && part.booked.is_zero() {
            continue;
        }
        let item = ForeignItem { position: recorded.position, date: recorded.effective_date, part };
        state.foreign_payables.entry((book, supplier)).or_default().push(item);
    }
}

/// What the items priced in a foreign currency owe their suppliers, by (top of the chain,
/// supplier, currency): in that currency, and as booked in the book's (`supplier_price`).
pub(crate) fn foreign_costs(items: &[PricedItem]) -> Vec<(OrgId, OrgId, ForeignPart)> {
    let mut parts: Vec<(OrgId, OrgId, ForeignPart)> = Vec::new();
    for item in items {
        let (Some(owed), Some(top)) = (item.foreign_supplier_price(), item.levels.first()) else { continue };
        let (currency, owed) = owed.expect("checked when the item was priced");
        let (owed, booked) = (SignedAmount::from(owed), SignedAmount::from(item.supplier_price));
        let same = |(book, supplier, part): &&mut (OrgId, OrgId, ForeignPart)| {
            *book == top.org_id && *supplier == item.supplier_id && part.currency == currency
        };
        match parts.iter_mut().find(same) {
            Some((_, _, part)) => {
                part.owed = part.owed.plus(owed);
                part.booked = part.booked.plus(booked);
            }
            None => parts.push((top.org_id, item.supplier_id, ForeignPart { currency, owed, booked })),
        }
    }
    parts
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
    // One requested with its details is known already; one of the first contract is ordinary.
    let invoice = state.invoices.entry(event.invoice_id).or_insert_with(|| Invoice {
        customer_id: event.customer_id,
        book: event.book,
        amount: event.amount,
        invoice_type: InvoiceType::Ordinary,
        tax_rate: default_tax_rate(),
        status: InvoiceStatus::Issued,
        red_lettered: Amount::ZERO,
    });
    invoice.status = InvoiceStatus::Issued;
}

pub(super) fn invoice_requested(state: &mut State, event: &InvoiceRequested) {
    let request = InvoiceRequest { customer_id: event.customer_id, amount: event.amount };
    state.invoice_requests.insert(event.invoice_id, request);
    let invoice = Invoice {
        customer_id: event.customer_id,
        book: event.book,
        amount: event.amount,
        invoice_type: event.invoice_type,
        tax_rate: event.tax_rate,
        status: InvoiceStatus::Requested,
        red_lettered: Amount::ZERO,
    };
    state.invoices.insert(event.invoice_id, invoice);
}

pub(super) fn invoice_delivered(state: &mut State, event: &InvoiceDelivered) {
    state.invoices.get_mut(&event.invoice_id).expect("a known invoice").status = InvoiceStatus::Delivered;
}

pub(super) fn invoice_voided(state: &mut State, event: &InvoiceVoided) {
    state.invoice_requests.remove(&event.invoice_id);
    state.invoices.get_mut(&event.invoice_id).expect("a known invoice").status = InvoiceStatus::Voided;
    state.uninvoice(event.customer_id, event.amount);
}

pub(super) fn invoice_red_lettered(state: &mut State, event: &InvoiceRedLettered) {
    let invoice = state.invoices.get_mut(&event.invoice_id).expect("a known invoice");
    invoice.red_lettered = invoice.red_lettered.plus(event.amount);
    state.uninvoice(event.customer_id, event.amount);
}

/// The tax in an amount with tax at `rate` (`amount × rate / (1 + rate)`), rounded half up.
pub fn tax_in(amount: Amount, rate: crate::money::Rate) -> Result<Amount, DomainError> {
    let rate = rate.as_decimal();
    let tax = checked_mul(amount.as_decimal(), rate)
        .map(|product| product / (rust_decimal::Decimal::ONE + rate))
        .and_then(round_half_up);
    tax.map_err(|error| DomainError::invalid_amount("amount", error))
}

fn invoice_state(invoice_id: InvoiceId, status: InvoiceStatus, action: &str) -> DomainError {
    DomainError::conflict(
        "invoice_state",
        format!("invoice {invoice_id} is {}: it cannot be {action}", status.as_str()),
    )
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
