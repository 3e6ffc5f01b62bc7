//! # gateway
//!
//! The HTTP API of KBOSS Ledger (DESIGN §8, `shared/API.md`) and the `kboss` binary.
//!
//! Start at [`app::Application::build`]. Requests are authenticated in [`auth`], turned into
//! `ledger_core::Command`s by the handlers of [`routes`] (one file per area; each has its own
//! request and response types: decimal strings in, domain types inside), submitted to the
//! sequencer through [`state::AppState::execute`], and answered with the log position. Reads go
//! to the read models of `projections` with `min_position` for read-your-writes. Errors are
//! RFC 9457 problems ([`error`]).
//!
//! Modules depend one way: [`app`] → [`routes`] → [`state`] → the leaves ([`auth`], [`config`],
//! [`error`], [`metrics`], [`notifier`], [`operation_log`], ...), which import neither `app` nor `routes`;
//! `ops/check-imports` fails on any cycle.
//!
//! Architecture invariant: the gateway decides nothing about the business. Tenancy and roles on
//! writes are the deciders' (`ledger-core`); the gateway checks tenancy on reads only, because
//! the read models serve every tenant.

pub mod access;
pub mod app;
pub mod approval_webhooks;
pub mod audit;
pub mod auth;
pub mod back_office_cli;
pub mod cli;
pub mod config;
pub mod console;
pub mod distribution;
pub mod error;
pub mod export;
pub mod forward;
pub mod leadership;
pub mod metrics;
pub mod monitors;
pub mod notifier;
pub mod openapi;
pub mod operation_log;
pub mod payments;
pub mod reconcile;
pub mod replay;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod ticker;
pub mod verify;

pub use app::Application;
pub use config::Settings;
