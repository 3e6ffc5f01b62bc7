//! Black-box tests of the gateway: the real server on port 0 over a fresh data directory.
//! One test binary (rather than one per file) keeps linking, the slow part, to once.

mod audit;
mod bad_input;
mod cli;
mod cli_operations;
mod contract;
mod controls;
mod credit;
mod currency;
mod cycles;
mod deploy;
mod edges;
mod export;
mod failover;
mod flow;
mod helpers;
mod idempotency;
mod metrics;
mod migrate;
mod more_flows;
mod nats;
mod notifier;
mod openapi;
mod operations;
mod outage;
mod payments;
mod people;
mod permissions;
mod policies;
mod postgres;
mod registry;
mod settlements;
mod split_roles;
mod tenancy;
mod vouchers;
