//! The back office from the command line (`kboss rules set`, `kboss entries book`,
//! `kboss sale-mode`): a posting rule's new version, a manual journal entry (手工凭证), a
//! reseller's sale mode. Each is one command through the writer, parsed as the API parses its
//! body and decided by the same decider, by the command line's own principal acting in the role
//! the API would need (the platform's finance for rules, the book's finance for entries, the
//! reseller's parent's admin for sale modes); each is an operation of its book in the operation
//! log. Like `settle`, they take the writer's lock.

use commands::{CommandError, Request, Writer};
use ledger_core::event::{ApprovalRequested, EventPayload, ManualEntryBooked, PostingRulesSet, SaleModeScheduled};
use ledger_core::ids::{ApprovalId, OrgId, PrincipalId};
use ledger_core::org::{Actor, Role};
use ledger_core::{Command, CommandBody, SettlementCommand, SetupCommand};

use crate::error::ApiError;
use crate::operation_log::{Operation, OperationLog};
use crate::routes::back_office::{ManualEntryInput, PostingRuleInput, SaleModeInput};

/// The principal the command line acts with (`kboss` in ASCII, then `cli`): no token has it.
pub const CLI_PRINCIPAL_ID: PrincipalId = PrincipalId(uuid::Uuid::from_u128(0x6b62_6f73_7300_0000_0000_0000_0063_6c69));

/// One back-office command from the command line.
pub enum BackOfficeCommand {
    PostingRule { kind: String, input: PostingRuleInput },
    ManualEntry { book: OrgId, input: ManualEntryInput },
    SaleMode { reseller: OrgId, input: SaleModeInput },
}

#[derive(Debug, thiserror::Error)]
pub enum BackOfficeError {
    /// The input, refused as the API refuses it: `invalid_field: lines[0].debit: …`.
    #[error("{0}")]
    Invalid(String),
    #[error("{code}: {error}", code = .0.code(), error = .0)]
    Refused(ledger_core::DomainError),
    #[error(transparent)]
    Command(CommandError),
    #[error("{0}")]
    Unknown(String),
}

impl From<ApiError> for BackOfficeError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Invalid { code, field, detail } => BackOfficeError::Invalid(format!("{code}: {field}: {detail}")),
            other => BackOfficeError::Invalid(other.to_string()),
        }
    }
}

impl From<CommandError> for BackOfficeError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Rejected(error) => BackOfficeError::Refused(error),
            other => BackOfficeError::Command(other),
        }
    }
}

/// Decides one command; answers the line to print: what it booked or set, at which position.
pub async fn run(
    writer: &Writer,
    operations: &OperationLog,
    command: BackOfficeCommand,
) -> Result<String, BackOfficeError> {
    let handle = writer.handle();
    let state = handle.state().await.ok_or(CommandError::Stopped)?;
    let platform = state.platform_id.ok_or_else(|| BackOfficeError::Unknown("the log has no platform".to_owned()))?;
    let (actor_org, role, body) = match &command {
        BackOfficeCommand::PostingRule { kind, input } => {
            let rule = input.rule(kind)?;
            (platform, Role::Finance, CommandBody::Setup(SetupCommand::SetPostingRules { rules: vec![rule] }))
        }
        BackOfficeCommand::ManualEntry { book, input } => {
            let (date, lines) = input.parse()?;
            let approval_id = ApprovalId(uuid::Uuid::now_v7());
            let memo = input.memo.clone();
            let body = SettlementCommand::RequestManualEntry { approval_id, book: *book, date, lines, memo };
            (*book, Role::Finance, CommandBody::Settlement(body))
        }
        BackOfficeCommand::SaleMode { reseller, input } => {
            let (sale_mode, effective_from) = input.parse()?;
            let parent = state.orgs.get(reseller).and_then(|org| org.parent_id);
            let parent =
                parent.ok_or_else(|| BackOfficeError::Unknown(format!("no reseller {reseller} in this log")))?;
            let body = SetupCommand::SetSaleMode { reseller_id: *reseller, sale_mode, effective_from };
            (parent, Role::Admin, CommandBody::Setup(body))
        }
    };
    let actor = Actor::new(actor_org, CLI_PRINCIPAL_ID, [role]);
    let kind = body.name();
    let command =
        Command { actor: actor.clone(), effective_date: chrono::Utc::now().date_naive(), at: chrono::Utc::now(), body };
    let at = command.at;
    let key = format!("cli:{}", uuid::Uuid::now_v7());
    let result = handle.submit(Request::with_key(command, &key)).await;
    operations.record(Operation::answered(at, &actor, kind, &result.clone().map_err(ApiError::from)), 0);
    let committed = result?;
    let line = committed.events.iter().find_map(|event| match &event.event.payload {
        EventPayload::PostingRulesSet(PostingRulesSet { rules }) => {
            rules.first().map(|rule| format!("rule {}/{} version {}", rule.kind, rule.role, rule.version))
        }
        EventPayload::ManualEntryBooked(ManualEntryBooked { approval_id, book, .. }) => {
            Some(format!("entry {approval_id} booked in {book}"))
        }
        EventPayload::ApprovalRequested(ApprovalRequested { approval_id, .. }) => {
            Some(format!("entry {approval_id} waits for approval"))
        }
        EventPayload::SaleModeScheduled(SaleModeScheduled { reseller_id, effective_from, .. }) => {
            Some(format!("sale mode of {reseller_id} from {effective_from}"))
        }
        EventPayload::SaleModeSet(set) => Some(format!("sale mode of {} set", set.reseller_id)),
        _ => None,
    });
    let line = line.unwrap_or_else(|| "nothing changed".to_owned());
    Ok(format!("{line} (position {})", committed.position))
}
