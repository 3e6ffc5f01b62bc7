//! Record format v2 against today's canonical JSON, for the DESIGN §2.5 purchase records
//! (`OrderPlaced`, `OrderPaid`): what sealing costs (encode + SHA-256) and what reading costs
//! (decode, with the hash). `cargo bench -p benches --bench record`.
//!
//! The JSON side is record format v1 as it was: the canonical JSON of the same event (for
//! `OrderPaid`, with the order's items it repeated). Reading it is measured three ways:
//! `RecordedEvent::decode_v1` alone; decode + SHA-256 of the bytes read (what v2's `decode`
//! does); and decode + re-encode + SHA-256, which is how v1 replay verified an event.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ledger_core::event::V1Copy;
use ledger_core::record;
use ledger_core::testing::worked_example_purchase;
use ledger_core::{EventPayload, RecordedEvent};

fn record_formats(criterion: &mut Criterion) {
    let (placed, paid) = worked_example_purchase();
    let EventPayload::OrderPlaced(order) = &placed.event.payload else { unreachable!("the first is OrderPlaced") };
    let items = order.items.clone();
    for event in [placed, paid] {
        let v1_items = match event.event.payload {
            EventPayload::OrderPaid(_) => V1Copy::OrderPaidItems(&items),
            _ => V1Copy::None,
        };
        let v2 = record::encode(&event);
        let json = event.v1_canonical_bytes(v1_items);
        eprintln!("{}: v2 {} bytes, canonical JSON {} bytes", event.event_type(), v2.len(), json.len());
        let mut group = criterion.benchmark_group(format!("record/{}", event.event_type()));
        group.throughput(Throughput::Elements(1));
        let mut buffer = Vec::with_capacity(4096);
        group.bench_function("v2_encode_sha256", |bencher| {
            bencher.iter(|| {
                buffer.clear();
                record::encode_into(black_box(&event), &mut buffer);
                record::digest(&buffer)
            })
        });
        group.bench_function("json_encode_sha256", |bencher| {
            bencher.iter(|| record::digest(&black_box(&event).v1_canonical_bytes(v1_items)))
        });
        group.bench_function("v2_decode_sha256", |bencher| {
            bencher.iter(|| record::decode(black_box(&v2)).expect("a v2 record"))
        });
        group.bench_function("json_decode", |bencher| {
            bencher.iter(|| RecordedEvent::decode_v1(black_box(&json), &event.hash).expect("a JSON record"))
        });
        group.bench_function("json_decode_sha256", |bencher| {
            bencher.iter(|| {
                let decoded = RecordedEvent::decode_v1(black_box(&json), "").expect("a JSON record");
                (decoded, record::digest(&json))
            })
        });
        group.bench_function("json_decode_reencode_sha256", |bencher| {
            bencher.iter(|| {
                let decoded = RecordedEvent::decode_v1(black_box(&json), &event.hash).expect("a JSON record");
                record::digest(&decoded.v1_canonical_bytes(v1_items))
            })
        });
        group.finish();
    }
}

criterion_group!(benches, record_formats);
criterion_main!(benches);
