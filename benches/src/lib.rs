//! Shared pieces of the benchmarks. See `RESULTS.md` for what was measured and how.
use ledger_core::MoneyCommand;

/// The allocator `kboss` runs with (see `gateway/src/main.rs`), so the benches measure what it
/// runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The local PostgreSQL server (ops/services): database `test`, trust auth.
pub const POSTGRES_URL: &str = "host=127.0.0.1 user=postgres dbname=test";

/// A schema of its own in database `test` for one bench run, dropped at the end.
pub struct BenchSchema {
    admin: postgres::Config,
    pub name: String,
}

impl BenchSchema {
    pub fn create() -> BenchSchema {
        let admin: postgres::Config = std::env::var("KBOSS_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| POSTGRES_URL.to_owned())
            .parse()
            .expect("the database URL parses");
        let name = format!("kboss_bench_{}", uuid::Uuid::now_v7().simple());
        let mut client = admin.connect(postgres::NoTls).expect("PostgreSQL is reachable (ops/services start)");
        client.batch_execute(&format!("CREATE SCHEMA {name}")).expect("create the bench schema");
        BenchSchema { admin, name }
    }

    /// The store's connection settings: the schema first on the search path.
    pub fn config(&self) -> postgres::Config {
        let mut config = self.admin.clone();
        config.options(&format!("-c search_path={}", self.name));
        config
    }

    /// A pool for read models in this schema.
    pub fn pool(&self) -> deadpool_postgres::Pool {
        let mut config = deadpool_postgres::Config::new();
        config.host = Some("127.0.0.1".into());
        config.user = Some("postgres".into());
        config.dbname = Some("test".into());
        config.options = Some(format!("-c search_path={}", self.name));
        config.create_pool(Some(deadpool_postgres::Runtime::Tokio1), tokio_postgres::NoTls).expect("a pool")
    }
}

impl Drop for BenchSchema {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // The blocking client must not run on an async runtime's thread.
        let _ = std::thread::spawn(move || {
            if let Ok(mut client) = admin.connect(postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA {name} CASCADE"));
            }
        })
        .join();
    }
}

/// Funds the §2.5 customer once with far more than any bench spends, so every payment commits.
pub async fn fund_customer(handle: &commands::WriterHandle, world: &ledger_core::testing::WorkedExample) {
    use ledger_core::ids::{RechargeId, TradeNumber};
    let funding = ledger_core::CommandBody::Money(MoneyCommand::ConfirmOnlineRecharge {
        recharge_id: RechargeId::from_u128(0xF00D),
        customer_id: world.customer,
        amount: ledger_core::money::Amount::parse("900000000000.00").expect("an amount"),
        channel: "alipay".into(),
        trade_number: TradeNumber::try_from("FUNDING".to_owned()).expect("a trade number"),
    });
    handle
        .submit(commands::Request::new(commands::testing::command(&world.r2_finance, funding)))
        .await
        .expect("funding commits");
}

/// Places and pays `purchases` §2.5 orders from `submitters` concurrent lanes (lane `k` takes
/// purchases `k`, `k + submitters`, …), each command answered only once committed. Answers every
/// command's latency in µs, submit to answer, sorted. Benches that only need the log ignore them.
pub async fn place_and_pay(
    handle: &commands::WriterHandle,
    world: &std::sync::Arc<ledger_core::testing::WorkedExample>,
    purchases: u64,
    submitters: u64,
) -> Vec<u64> {
    let lanes: Vec<_> = (0..submitters)
        .map(|lane| {
            let (handle, world) = (handle.clone(), world.clone());
            tokio::spawn(async move {
                let mut latencies_us = Vec::new();
                for n in (lane..purchases).step_by(submitters as usize) {
                    let [_, place, pay] = commands::testing::purchase(&world, n);
                    for request in [place, pay] {
                        let sent = std::time::Instant::now();
                        handle.submit(request).await.expect("the command commits");
                        latencies_us.push(sent.elapsed().as_micros() as u64);
                    }
                }
                latencies_us
            })
        })
        .collect();
    let mut latencies_us = Vec::with_capacity(purchases as usize * 2);
    for lane in lanes {
        latencies_us.extend(lane.await.expect("a lane finishes"));
    }
    latencies_us.sort_unstable();
    latencies_us
}
