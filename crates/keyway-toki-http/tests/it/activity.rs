//! The layer's activity hook: one event per verified or refused call, with route templates.

use std::sync::Arc;

use axum::routing::post;
use keyway_toki::*;
use keyway_toki_http::{ActivitySink, CallEvent, TokiLayer, remember_route};
use tokio::net::TcpListener;

use crate::harness::*;

#[tokio::test]
async fn verified_and_refused_calls_become_events() {
    let clock = Arc::new(ManualClock::new(now_ms()));
    let mut peers = StaticPeerKeys::new();
    peers.insert(
        id("orders"),
        TokiKeyPair::from_seed(&KEYS.orders).unwrap().public_key(),
    );
    let (sink, mut events) = ActivitySink::channel(64);
    let layer = TokiLayer::builder(
        id("ledger"),
        TokiKeyPair::from_seed(&KEYS.ledger).unwrap(),
        peers,
    )
    .clock(clock.clone())
    .authorize(|_caller, _method, path| path.starts_with("/v1/"))
    .activity(sink.clone())
    .build();
    let app = axum::Router::new()
        .route(
            "/v1/entries/{id}",
            post(|body: String| async move { format!("ok:{body}") }),
        )
        .route("/admin", post(|| async { "no" }))
        .route_layer(axum::middleware::from_fn(remember_route))
        .layer(layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = client(clock.clone(), TokiConfig::default());
    let answer = client
        .send(
            client
                .http()
                .post(format!("{base}/v1/entries/42"))
                .body("abc"),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let answer = client
        .send(client.http().post(format!("{base}/admin")))
        .await
        .unwrap();
    assert_eq!(answer.status, 403);
    let refused = reqwest::Client::new()
        .post(format!("{base}/v1/entries/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let mut got: Vec<CallEvent> = Vec::new();
    while got.len() < 3 {
        got.push(events.recv().await.unwrap());
    }
    let ok = &got[0];
    assert_eq!(ok.caller.as_deref(), Some("orders"));
    assert_eq!(
        (ok.callee.as_str(), ok.route.as_str()),
        ("ledger", "/v1/entries/{id}")
    );
    assert_eq!(
        (ok.method.as_str(), ok.status, ok.failure.as_deref()),
        ("POST", 200, None)
    );
    assert_eq!((ok.bytes_in, ok.bytes_out), (3, 6));
    assert_eq!(got[1].failure.as_deref(), Some("forbidden"));
    assert_eq!(got[1].status, 403);
    assert_eq!(got[2].failure.as_deref(), Some("missing_token"));
    assert_eq!((got[2].status, got[2].caller.as_deref()), (401, None));
    assert!(
        events.try_recv().is_err(),
        "a successful hello is not an event"
    );
    assert_eq!(sink.dropped(), 0);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_waiting() {
    let (sink, _events) = ActivitySink::channel(2);
    let event = CallEvent {
        ts_ms: 1,
        caller: Some("a".into()),
        callee: "b".into(),
        method: "GET".into(),
        route: "/".into(),
        status: 200,
        latency_us: 5,
        bytes_in: 0,
        bytes_out: 0,
        failure: None,
    };
    for _ in 0..5 {
        sink.record(event.clone());
    }
    assert_eq!(sink.dropped(), 3);
}
