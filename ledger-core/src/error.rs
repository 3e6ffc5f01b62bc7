//! Business rejections. Each has a stable `code` (the problem+json `code` the gateway shows), a
//! class that decides its HTTP status, and, where one field is at fault, that field's name.

use chrono::NaiveDate;

use crate::chart::AccountCode;
use crate::ids::OrgId;
use crate::money::{Amount, FieldError, MoneyError};
use crate::rules::PartyRef;

/// How a rejection maps onto HTTP: the gateway owns the numbers, the core the classes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorClass {
    /// 422: the request is well formed but the business refuses it.
    Unprocessable,
    /// 404: no such thing, or it belongs to another tenant.
    NotFound,
    /// 403: the actor's roles do not allow it.
    Forbidden,
    /// 409: the thing is in a state that conflicts with the request.
    Conflict,
}

#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{field} {reason}")]
    InvalidAmount { field: String, reason: MoneyError },
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("not allowed: {reason}")]
    Forbidden { reason: String },
    #[error("{what} {id} already exists")]
    AlreadyExists { what: &'static str, id: String },
    #[error("the platform is already open")]
    AlreadyBootstrapped,
    #[error("the platform is not open yet")]
    NotBootstrapped,
    #[error("balance {available} is less than {needed}")]
    InsufficientBalance { available: Amount, needed: Amount },
    /// The customer owes arrears past their due date: it draws no more credit until it repays.
    #[error("arrears of {amount} fell due on {due_on}: no more credit until they are repaid")]
    ArrearsOverdue { amount: Amount, due_on: NaiveDate },
    #[error("book {book} is closed through {closed_through}; {date} falls in the closed period")]
    PeriodClosed { book: OrgId, closed_through: NaiveDate, date: NaiveDate },
    #[error("book {book} is already closed through {closed_through}")]
    PeriodAlreadyClosed { book: OrgId, closed_through: NaiveDate },
    #[error("a period can only be closed once it has ended ({through} is not before {today})")]
    PeriodNotEnded { through: NaiveDate, today: NaiveDate },
    #[error("nobody approves their own request, whichever token they use")]
    SelfApproval,
    /// A person who granted an earlier level of the approval decides a later one.
    #[error("level {level} of this approval was granted by the same person: each level needs another person")]
    RepeatApprover { level: usize },
    /// The actor holds a role of another level of the approval, not of the one it waits at.
    #[error("the approval waits at level {level} of {levels}, approved by one of the roles {roles}")]
    ApprovalLevelRole { level: usize, levels: usize, roles: String },
    /// The token the command acts with is no longer valid (`revoked`, `expired`).
    #[error("the token is {state}")]
    TokenNotValid { state: &'static str },
    #[error("{reason}")]
    TokenConflict { code: &'static str, reason: &'static str },
    #[error("approval is already {status}")]
    ApprovalDecided { status: &'static str },
    #[error("an approval for this is already pending")]
    ApprovalPending,
    #[error("no price: {reason}")]
    NoPrice { field: String, reason: String },
    #[error("invite code {code} is not valid here")]
    InvalidInviteCode { code: String },
    #[error("the promotion of invite code {code} is valid from {valid_from} to {valid_to}, not on {date}")]
    PromotionNotValid { code: String, valid_from: NaiveDate, valid_to: NaiveDate, date: NaiveDate },
    #[error("order is already paid")]
    OrderAlreadyPaid,
    /// A payment notification that pays nothing the book expects: no online recharge or order
    /// awaits payment under its id, or not of its amount. Nothing is booked.
    #[error("unexpected payment: {reason}")]
    UnexpectedPayment { reason: String },
    #[error("order is {status}; cannot {action}")]
    OrderState { status: &'static str, action: &'static str },
    #[error("refund {requested} is more than the {refundable} still refundable")]
    RefundExceedsPaid { requested: Amount, refundable: Amount },
    #[error("serial code {code} is already {state}")]
    SerialCodeUsed { code: String, state: &'static str },
    #[error("{reason}")]
    SettlementConflict { code: &'static str, reason: String },
    /// The thing is in a state that refuses the request: a closed org acted for, an org closed
    /// with something still open, a product off the shelf.
    #[error("{reason}")]
    StateConflict { code: &'static str, reason: String },
    #[error("invoice {requested} is more than the {invoiceable} not yet invoiced")]
    InvoiceExceedsInvoiceable { requested: Amount, invoiceable: Amount },
    #[error("posting rule {index}: {reason}")]
    RuleUnbalanced { index: usize, reason: String },
    #[error("no posting rule for kind {kind} role {role}")]
    NoPostingRule { kind: String, role: String },
    #[error("the event provides no amount named {name}")]
    MissingAmount { name: String },
    #[error("the event binds no party for {party:?}")]
    MissingParty { party: PartyRef },
    #[error("account {account} is not open in book {book}")]
    AccountNotOpen { book: OrgId, account: AccountCode },
    #[error("account {account} already exists as another type and has lines")]
    AccountRetype { account: AccountCode },
    #[error("{field}: {reason}")]
    LimitExceeded { field: String, reason: String },
    #[error("books in {expected} cannot take {found}")]
    CurrencyMismatch { expected: String, found: String },
    /// The command would append an event whose record passes the log's limit per event: the
    /// same command is refused again however often it is sent (never an outage, never a 503).
    #[error("the {event_type} event this command decides would be a record of {bytes} bytes, over the log's limit of {limit} bytes per event")]
    EventTooLarge { event_type: &'static str, bytes: usize, limit: usize },
}

impl DomainError {
    pub fn invalid_amount(field: impl Into<String>, reason: MoneyError) -> DomainError {
        DomainError::InvalidAmount { field: field.into(), reason }
    }

    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> DomainError {
        DomainError::InvalidField { field: field.into(), reason: reason.into() }
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> DomainError {
        DomainError::NotFound { what, id: id.to_string() }
    }

    pub fn conflict(code: &'static str, reason: impl Into<String>) -> DomainError {
        DomainError::StateConflict { code, reason: reason.into() }
    }

    pub fn forbidden(reason: impl Into<String>) -> DomainError {
        DomainError::Forbidden { reason: reason.into() }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            InvalidAmount { reason, .. } => reason.code(),
            InvalidField { .. } => "invalid_field",
            NotFound { .. } => "not_found",
            Forbidden { .. } => "forbidden",
            AlreadyExists { .. } => "already_exists",
            AlreadyBootstrapped => "already_bootstrapped",
            NotBootstrapped => "not_bootstrapped",
            InsufficientBalance { .. } => "insufficient_balance",
            ArrearsOverdue { .. } => "arrears_overdue",
            PeriodClosed { .. } => "period_closed",
            PeriodAlreadyClosed { .. } => "period_already_closed",
            PeriodNotEnded { .. } => "period_not_ended",
            SelfApproval => "self_approval",
            RepeatApprover { .. } => "repeat_approver",
            ApprovalLevelRole { .. } => "approval_level_role",
            TokenNotValid { state: "expired" } => "token_expired",
            TokenNotValid { .. } => "token_revoked",
            TokenConflict { code, .. } => code,
            ApprovalDecided { .. } => "approval_decided",
            ApprovalPending => "approval_pending",
            NoPrice { .. } => "no_price",
            InvalidInviteCode { .. } => "invalid_invite_code",
            PromotionNotValid { .. } => "promotion_not_valid",
            OrderAlreadyPaid => "order_already_paid",
            UnexpectedPayment { .. } => "unexpected_payment",
            OrderState { .. } => "order_state",
            RefundExceedsPaid { .. } => "refund_exceeds_paid",
            SerialCodeUsed { .. } => "serial_code_used",
            SettlementConflict { code, .. } => code,
            StateConflict { code, .. } => code,
            InvoiceExceedsInvoiceable { .. } => "invoice_exceeds_invoiceable",
            RuleUnbalanced { .. } => "rule_unbalanced",
            NoPostingRule { .. } => "no_posting_rule",
            MissingAmount { .. } => "missing_amount",
            MissingParty { .. } => "missing_party",
            AccountNotOpen { .. } => "account_not_open",
            AccountRetype { .. } => "account_retype",
            CurrencyMismatch { .. } => "currency_mismatch",
            LimitExceeded { .. } => "limit_exceeded",
            EventTooLarge { .. } => "event_too_large",
        }
    }

    pub fn class(&self) -> ErrorClass {
        use DomainError::*;
        match self {
            NotFound { .. } => ErrorClass::NotFound,
            Forbidden { .. } | TokenNotValid { .. } | ApprovalLevelRole { .. } => ErrorClass::Forbidden,
            AlreadyExists { .. }
            | AlreadyBootstrapped
            | NotBootstrapped
            | ApprovalDecided { .. }
            | ApprovalPending
            | OrderAlreadyPaid
            | OrderState { .. }
            | SerialCodeUsed { .. }
            | SettlementConflict { .. }
            | StateConflict { .. }
            | TokenConflict { .. }
            | PeriodAlreadyClosed { .. }
            | AccountRetype { .. } => ErrorClass::Conflict,
            _ => ErrorClass::Unprocessable,
        }
    }

    /// The request field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        use DomainError::*;
        match self {
            InvalidAmount { field, .. }
            | InvalidField { field, .. }
            | NoPrice { field, .. }
            | LimitExceeded { field, .. } => Some(field),
            InvalidInviteCode { .. } | PromotionNotValid { .. } => Some("invite_code"),
            RefundExceedsPaid { .. } | InvoiceExceedsInvoiceable { .. } | InsufficientBalance { .. } => Some("amount"),
            RuleUnbalanced { .. } => Some("rules"),
            _ => None,
        }
    }
}

impl From<FieldError> for DomainError {
    fn from(error: FieldError) -> Self {
        DomainError::InvalidAmount { field: error.field, reason: error.error }
    }
}
