//! The child process of the crash test (`commands/tests/crash.rs`): runs the writer on a data
//! directory under load and prints `ACK <key> <position>` for every answer, flushed, so the
//! parent knows exactly what was acknowledged when it kills this process with SIGKILL.
//!
//! Usage: kboss-crash-writer <data-dir> <purchases> <concurrency>

use std::io::Write;
use std::sync::Arc;

use commands::testing::{purchase, setup_world};
use commands::{Writer, WriterConfig};
use event_log::SqliteStore;

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let [_, data_dir, purchases, concurrency] = arguments.as_slice() else {
        eprintln!("usage: kboss-crash-writer <data-dir> <purchases> <concurrency>");
        std::process::exit(2);
    };
    let purchases: u64 = purchases.parse().expect("purchases is a number");
    let concurrency: u64 = concurrency.parse().expect("concurrency is a number");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let store = SqliteStore::open_writer(std::path::Path::new(data_dir)).expect("the store opens");
        // Small snapshots interval: kills also land while snapshots are written.
        let config = WriterConfig { snapshot_every_events: 500, ..WriterConfig::default() };
        let writer = Writer::start(store, config).expect("the writer starts");
        let handle = writer.handle();
        let world = Arc::new(setup_world(&handle).await.expect("set-up"));
        let tasks: Vec<_> = (0..concurrency)
            .map(|lane| {
                let (handle, world) = (handle.clone(), world.clone());
                tokio::spawn(async move {
                    for n in (lane..purchases).step_by(concurrency as usize) {
                        for request in purchase(&world, n) {
                            let key = request.idempotency_key.clone().expect("keyed");
                            let committed = handle.submit(request).await.expect("the command commits");
                            let mut stdout = std::io::stdout().lock();
                            writeln!(stdout, "ACK {} {}", key.as_str(), committed.position).unwrap();
                            stdout.flush().unwrap();
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        writer.shutdown();
        println!("DONE");
    });
}
