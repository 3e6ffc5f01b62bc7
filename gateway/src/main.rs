//! `kboss`: serve the API, replay, verify, rebuild, settle, export (see `gateway::cli`).

use clap::Parser;

/// mimalloc: glibc malloc was a quarter of replay and read-model CPU (benches/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gateway::telemetry::init();
    let cli = gateway::cli::Cli::parse();
    match gateway::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kboss: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
