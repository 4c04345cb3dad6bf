//! Toki calls to a hub of two nodes on one PostgreSQL or MariaDB store (issue 19): a session
//! opened at one node works at the other, a token or hello replayed to the other node is
//! refused, the session's ratchet is followed whichever node answers its anchor, and each
//! node's activity map shows the calls the other served.

use keyway_toki::{Clock as _, PendingHello, SystemClock, SystemEntropy, TokiConfig};
use serde_json::Value;

use crate::activity::wait_for_edge;
use crate::harness::{TestHub, client_credentials_token, http};
use crate::toki_calls::{get_via, get_with, hand_session, hub_identity, service};

fn authority(hub: &TestHub) -> String {
    hub.base.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn toki_sessions_and_replays_span_the_nodes() {
    crate::harness::on_two_nodes(async |one: &TestHub, two: &TestHub| {
        let label = one.backend.clone();
        let (reader, key) = service(one, 41, "link:read").await;

        // Opened at node 1, used at node 2.
        let mut hand = hand_session(one, &reader, &key).await;
        let host = authority(one);
        let token = hand.sign_get("/link/v1/stats", &SystemClock);
        let (status, _) = get_via(two, Some(&host), "/link/v1/stats", &token).await;
        assert_eq!(status, 200, "{label}");
        // The same token at node 1 (and at node 2 again): a replay, wherever it lands.
        for node in [&one, &two] {
            let (status, challenge) = get_via(node, Some(&host), "/link/v1/stats", &token).await;
            assert_eq!(status, 401, "{label}");
            assert!(
                challenge.contains("error=\"replayed\""),
                "{label}: {challenge}"
            );
        }
        // The session goes on at node 1 with the next counter.
        let token = hand.sign_get("/link/v1/stats", &SystemClock);
        assert_eq!(
            get_with(one, "/link/v1/stats", &token).await.0,
            200,
            "{label}"
        );
        // Without the shared claim node 2 would take it: its own window never saw it.
        let (status, challenge) = get_via(two, Some(&host), "/link/v1/stats", &token).await;
        assert_eq!(status, 401, "{label}");
        assert!(
            challenge.contains("error=\"replayed\""),
            "{label}: {challenge}"
        );

        // A hello answered by node 1, replayed to node 2: refused.
        let (hub_id, _) = hub_identity(one).await;
        let pending = PendingHello::new(
            &key,
            reader.clone(),
            hub_id,
            SystemClock.now_ms(),
            &SystemEntropy::default(),
        )
        .unwrap();
        let hello = |node: &TestHub| {
            http()
                .post(node.url("/.well-known/oscartoki/hello"))
                .body(pending.wire().to_vec())
                .send()
        };
        assert_eq!(hello(one).await.unwrap().status(), 200, "{label}");
        let replayed = hello(two).await.unwrap();
        assert_eq!(replayed.status(), 401, "{label}");
        let challenge = replayed.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"hello_replayed\""),
            "{label}: {challenge}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_session_ratchets_across_the_nodes() {
    crate::harness::on_two_nodes(async |one: &TestHub, two: &TestHub| {
        let label = one.backend.clone();
        let (reader, key) = service(one, 42, "link:read").await;
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (hub_id, hub_key) = hub_identity(one).await;
        // Keys roll every 3 calls: 40 calls alternating between the nodes cross many epochs,
        // with anchors answered by either node.
        let config = TokiConfig {
            ratchet_every: 3,
            ..TokiConfig::default()
        };
        let caller = reader.as_str().to_string();
        let client =
            keyway_toki_http::TokiClient::builder(http(), reader, key, hub_id.clone(), hub_key)
                .config(config)
                .build();
        for call in 0..40 {
            let node = if call % 2 == 0 { &one } else { &two };
            let response = client
                .send(client.http().get(node.url("/link/v1/stats")))
                .await
                .unwrap_or_else(|e| panic!("{label}: call {call}: {e}"));
            assert_eq!(
                response.status,
                200,
                "{label}: call {call}: {}",
                response.text()
            );
            let _: Value = serde_json::from_slice(&response.body).unwrap();
        }
        // Each node served 20 of the calls; the activity map of either shows all 40.
        let (viewer, secret) = one
            .client(&["client_credentials"], "activity:read", &[])
            .await;
        for node in [&one, &two] {
            let token = client_credentials_token(node, &viewer, &secret).await;
            let edge = (caller.as_str(), hub_id.as_str());
            let snapshot = wait_for_edge(node, &token, edge, 40, false).await;
            let calls: Vec<&Value> = snapshot["edges"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["caller"] == caller.as_str())
                .map(|e| &e["calls"])
                .collect();
            assert_eq!(calls, [&Value::from(40)], "{label}: {snapshot}");
        }
        let epoch = client.session_epoch().unwrap();
        assert!(
            epoch >= 10,
            "{label}: the session ratcheted ({epoch} epochs)"
        );
    })
    .await;
}

/// An epoch one node installed but could not publish (a store error at that moment) is
/// published with the next ratchet anchor, so the other nodes can follow the caller again.
#[tokio::test]
async fn an_epoch_that_was_not_published_is_repaired_at_the_next_anchor() {
    crate::harness::on_two_nodes(async |one: &TestHub, two: &TestHub| {
        let label = one.backend.clone();
        let (reader, key) = service(one, 43, "link:read").await;
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (hub_id, hub_key) = hub_identity(one).await;
        let config = TokiConfig {
            ratchet_every: 3,
            ..TokiConfig::default()
        };
        let client = keyway_toki_http::TokiClient::builder(http(), reader, key, hub_id, hub_key)
            .config(config)
            .build();
        let call = async |node: &TestHub| {
            let response = client
                .send(client.http().get(node.url("/link/v1/stats")))
                .await
                .unwrap();
            response.status.as_u16()
        };
        // Into epoch 1 at node 1; then the store loses that epoch (as if publishing failed).
        for _ in 0..5 {
            assert_eq!(call(one).await, 200, "{label}");
        }
        assert!(client.session_epoch().unwrap() >= 1, "{label}");
        crate::harness::admin_execute(
            &one.database_url,
            "UPDATE toki_sessions SET epoch = 0, anchor_counter = NULL, anchor = NULL",
        )
        .await;
        // Node 1 goes on; its next anchor finds the store behind and publishes the epoch first.
        for _ in 0..4 {
            assert_eq!(call(one).await, 200, "{label}");
        }
        // Node 2 follows the caller again.
        for n in 0..6 {
            let node = if n % 2 == 0 { two } else { one };
            assert_eq!(call(node).await, 200, "{label}: call {n} after the repair");
        }
    })
    .await;
}
