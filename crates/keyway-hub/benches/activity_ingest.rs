//! How many call events the hub's activity map absorbs per second: batches of 500 events
//! (the reporter's default) over 20 edges, parsed from JSON as `POST /activity/v1/events`
//! does, then aggregated. `cargo bench -p keyway-hub --bench activity_ingest`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keyway_hub::{ActivityMap, CallEvent};

const BATCH: usize = 500;

fn batch_json(now_ms: i64) -> Vec<u8> {
    let events: Vec<serde_json::Value> = (0..BATCH)
        .map(|i| {
            serde_json::json!({
                "ts_ms": now_ms, "caller": format!("svc{}", i % 20), "callee": "ledger",
                "method": "POST", "route": "/v1/entries/{id}", "status": if i % 50 == 0 { 503 } else { 200 },
                "latency_us": 200 + (i as u64 * 37) % 5000, "bytes_in": 14, "bytes_out": 120,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap_or_default()
}

#[derive(serde::Deserialize)]
struct Batch {
    events: Vec<CallEvent>,
}

fn ingest(c: &mut Criterion) {
    let now = 1_764_000_000_000;
    let body = batch_json(now);
    let map = ActivityMap::default();
    let mut group = c.benchmark_group("activity");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("parse+ingest 500-event batch", |b| {
        b.iter(|| {
            let batch: Batch =
                serde_json::from_slice(black_box(&body)).unwrap_or(Batch { events: Vec::new() });
            map.ingest(&batch.events, 0, now);
        })
    });
    group.bench_function("snapshot 20 edges", |b| {
        b.iter(|| black_box(map.snapshot(now)))
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
