//! The call path's cost of activity reporting: `ActivitySink::record` (a `try_send`) while a
//! consumer drains the queue, and when the queue is full (drop and count).
//! `cargo bench -p keyway-toki-http --bench activity`

// A benchmark may stop at a broken setup, like a test.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use keyway_toki_http::{ActivitySink, CallEvent};

fn event() -> CallEvent {
    CallEvent {
        ts_ms: 1_764_000_000_000,
        caller: Some("orders".into()),
        callee: "ledger".into(),
        method: "POST".into(),
        route: "/v1/entries/{id}".into(),
        status: 201,
        latency_us: 840,
        bytes_in: 14,
        bytes_out: 120,
        failure: None,
    }
}

fn record(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (sink, mut events) = ActivitySink::channel(10_000);
    // A consumer like the reporter's: takes events as fast as they come.
    runtime.spawn(async move { while events.recv().await.is_some() {} });
    let template = event();
    c.bench_function("activity/record (drained)", |b| {
        b.iter(|| sink.record(black_box(template.clone())))
    });
    let (full, _kept) = ActivitySink::channel(1);
    full.record(event());
    c.bench_function("activity/record (full: dropped)", |b| {
        b.iter(|| full.record(black_box(template.clone())))
    });
    println!("drained sink dropped {} events", sink.dropped());
}

criterion_group!(benches, record);
criterion_main!(benches);
