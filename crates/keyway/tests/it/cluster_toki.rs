//! The cluster of cluster.rs seen by a toki service and a linkage partner: calls through the
//! balancer land on every node, a token replayed to another node is refused, each node's
//! activity map shows the calls the others served, and a linkage file sent in batches spread
//! over the nodes links as it does in one batch at one node.

use std::time::Duration;

use keyway_toki::{
    ClientSession, Clock as _, PendingHello, RequestParts, ServiceId, SystemClock, SystemEntropy,
    TokiConfig, TokiKeyPair, TokiPublicKey, content_digest,
};
use keyway_toki_http::TokiClient;
use serde_json::Value;

use crate::cluster::{Cluster, NODES, block_on, http, post_form};
use crate::harness::{keyway, poll, str_field};

const STATS: &str = "/link/v1/stats";

/// A registered toki service: its client id and key.
fn toki_service(cluster: &Cluster, seed: u8) -> (ServiceId, TokiKeyPair) {
    let client = cluster.client("toki-svc", &["client_credentials"], "link:read", &[]);
    let id = str_field(&client, "client_id").to_string();
    let key = TokiKeyPair::from_seed(&[seed; 32]).expect("key");
    let out = cluster.cli(
        &["client", "add-toki-key", &id, "--public-key", "-"],
        &format!("{}\n", key.public_key()),
    );
    assert!(out.status.success(), "add-toki-key: {out:?}");
    (ServiceId::new(id).expect("service id"), key)
}

fn hub_identity(base: &str) -> (ServiceId, TokiPublicKey) {
    let hub: Value = http()
        .get(format!("{base}/toki/v1/hub"))
        .send()
        .and_then(|r| r.json())
        .expect("toki identity");
    (
        ServiceId::new(str_field(&hub, "service")).expect("service"),
        TokiPublicKey::parse(str_field(&hub, "toki_key")).expect("key"),
    )
}

pub(crate) fn toki_and_activity_span_the_nodes(cluster: &Cluster) {
    let label = cluster.label;
    let lb = cluster.balancer.url.clone();
    let (service, key) = toki_service(cluster, 51);
    let (hub_id, hub_key) = hub_identity(&lb);
    assert_eq!(
        hub_id.as_str(),
        lb,
        "{label}: the cluster's toki id is its issuer"
    );

    // Calls through the balancer: one session, every node in turn, ratcheting as it goes.
    let calls = NODES * 4;
    block_on(async {
        let client = TokiClient::builder(
            reqwest::Client::new(),
            service.clone(),
            TokiKeyPair::from_seed(&[51; 32]).expect("key"),
            hub_id.clone(),
            hub_key,
        )
        .config(TokiConfig {
            ratchet_every: 2,
            ..TokiConfig::default()
        })
        .build();
        for call in 0..calls {
            let response = client
                .send(client.http().get(format!("{lb}{STATS}")))
                .await
                .unwrap_or_else(|e| panic!("{label}: toki call {call}: {e}"));
            assert_eq!(
                response.status,
                200,
                "{label}: call {call}: {}",
                response.text()
            );
        }
        assert!(
            client.session_epoch().unwrap_or(0) >= 3,
            "{label}: ratcheted"
        );
    });

    // A token accepted at node 1 and replayed to node 3 (as the balancer would pass it on).
    let authority = lb.trim_start_matches("http://").to_string();
    let mut session = open_session(&cluster.nodes[0].url, &service, &key, &hub_id, &hub_key);
    let digest = content_digest(b"");
    let parts = RequestParts {
        method: "GET",
        authority: &authority,
        path_and_query: STATS,
        content_digest: &digest,
    };
    let token = session
        .sign_request(&SystemClock, &parts)
        .expect("sign")
        .header_value;
    let send = |node: &str| {
        http()
            .get(format!("{node}{STATS}"))
            .header("host", &authority)
            .header("oscartoki", &token)
            .send()
            .expect("toki call")
    };
    assert_eq!(send(&cluster.nodes[0].url).status(), 200, "{label}");
    let replayed = send(&cluster.nodes[2].url);
    assert_eq!(replayed.status(), 401, "{label}");
    let challenge = replayed.headers()["www-authenticate"]
        .to_str()
        .unwrap_or("");
    assert!(challenge.contains("replayed"), "{label}: {challenge}");

    // Every node's map shows every call: the balancer's and the one at node 1.
    let viewer = cluster.client("viewer", &["client_credentials"], "activity:read", &[]);
    let viewer = (
        str_field(&viewer, "client_id"),
        str_field(&viewer, "client_secret"),
    );
    for node in &cluster.nodes {
        let (_, answer) = post_form(
            &http(),
            &format!("{}/oauth2/token", node.url),
            viewer,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "activity:read"),
            ],
        )
        .expect("token");
        let bearer = str_field(&answer, "access_token").to_string();
        let mut seen = Value::Null;
        let complete = poll(Duration::from_secs(8), || {
            seen = http()
                .get(format!("{}/activity/v1/edges", node.url))
                .bearer_auth(&bearer)
                .send()
                .and_then(|r| r.json())
                .unwrap_or(Value::Null);
            edge_calls(&seen, service.as_str()) == Some(calls as u64 + 1)
        });
        assert!(complete, "{label}: {} shows {seen}", node.url);
    }

    linkage_spread_over_the_nodes(cluster);
}

fn edge_calls(snapshot: &Value, caller: &str) -> Option<u64> {
    snapshot["edges"]
        .as_array()?
        .iter()
        .find(|edge| edge["caller"] == caller)
        .and_then(|edge| edge["calls"].as_u64())
}

fn open_session(
    node: &str,
    service: &ServiceId,
    key: &TokiKeyPair,
    hub_id: &ServiceId,
    hub_key: &TokiPublicKey,
) -> ClientSession {
    let pending = PendingHello::new(
        key,
        service.clone(),
        hub_id.clone(),
        SystemClock.now_ms(),
        &SystemEntropy::default(),
    )
    .expect("hello");
    let welcome = http()
        .post(format!("{node}/.well-known/oscartoki/hello"))
        .body(pending.wire().to_vec())
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.bytes())
        .expect("welcome");
    ClientSession::establish(
        pending,
        &welcome,
        hub_key,
        &SystemClock,
        &TokiConfig::default(),
    )
    .expect("session")
}

/// 30 records in batches of 10 through the balancer (one per node), then the same file in
/// one batch at node 2: the same links.
fn linkage_spread_over_the_nodes(cluster: &Cluster) {
    let label = cluster.label;
    let partner = cluster.client("site", &["client_credentials"], "link:submit", &[]);
    let id = str_field(&partner, "client_id");
    cluster.cli_json(&[
        "link", "partner", "create", "--code", "SITE", "--client", id,
    ]);
    let dir = tempfile::tempdir().expect("temporary dir");
    let secret = dir.path().join("secret");
    crate::link_cli::write_secret(
        &secret,
        &format!("{}\n", str_field(&partner, "client_secret")),
    );
    let input = dir.path().join("hashes.csv");
    let mut text = String::from("PATID,F_L_D_R,F_L_D_S\r\n");
    for i in 0..30u32 {
        // Every third record shares a hash with the one before: links across batches.
        let first = if i % 3 == 2 { i - 1 } else { i };
        text.push_str(&format!("p{i},{},{}\r\n", h(first), h(1000 + i)));
    }
    std::fs::write(&input, text).expect("hashes");
    let submit = |hub: &str, batch: &str, name: &str| {
        let output = dir.path().join(name);
        let run = keyway()
            .args(["link", "submit", "--quiet", "--hub", hub, "--client-id", id])
            .arg("--client-secret-file")
            .arg(&secret)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&output)
            .args(["--batch-size", batch])
            .output()
            .expect("link submit");
        assert!(
            run.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::read_to_string(&output).expect("links")
    };
    let spread = submit(&cluster.balancer.url, "10", "spread.csv");
    let whole = submit(&cluster.nodes[1].url, "1000", "whole.csv");
    let uuids = |links: &str| -> Vec<String> {
        links
            .lines()
            .skip(1)
            .map(|line| line.split(',').take(2).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(uuids(&spread), uuids(&whole), "{label}");
    assert_eq!(uuids(&spread).len(), 30, "{label}: {spread}");
}

fn h(n: u32) -> String {
    format!("{n:08x}").repeat(8)
}
