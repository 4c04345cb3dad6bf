//! The activity map: ingest and reading (in memory, so SQLite only), and two toki services
//! registered in the hub calling each other with their events showing up as edges.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use keyway_toki::{ServiceId, TokiKeyPair};
use keyway_toki_http::{
    HubCredentials, HubPeerKeys, HubSession, ReporterConfig, TokiClient, TokiLayer, remember_route,
    spawn_reporter,
};
use serde_json::{Value, json};

use crate::browser::{Browser, authorize_url, log_in_and_allow, pkce};
use crate::harness::{Backend, TestHub, client_credentials_token, http};

pub(crate) async fn edges(hub: &TestHub, token: &str) -> Value {
    let response = http()
        .get(hub.url("/activity/v1/edges"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

pub(crate) fn edge<'a>(snapshot: &'a Value, caller: &str, callee: &str) -> Option<&'a Value> {
    snapshot["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["caller"] == caller && e["callee"] == callee)
}

/// Polls the map (up to 5 s) until the edge caller → callee counts `calls` and, if asked, a
/// failure is listed; returns the last snapshot either way.
pub(crate) async fn wait_for_edge(
    hub: &TestHub,
    token: &str,
    (caller, callee): (&str, &str),
    calls: u64,
    with_failure: bool,
) -> Value {
    let mut snapshot = Value::Null;
    for _ in 0..50 {
        snapshot = edges(hub, token).await;
        let counted = edge(&snapshot, caller, callee).is_some_and(|e| e["calls"] == calls);
        let failed = !with_failure || !snapshot["failures"].as_array().unwrap().is_empty();
        if counted && failed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    snapshot
}

fn event(
    callee: &str,
    caller: Option<&str>,
    status: u16,
    latency_us: u64,
    failure: Option<&str>,
) -> Value {
    json!({
        "ts_ms": hub_now(), "caller": caller, "callee": callee, "method": "POST",
        "route": "/v1/entries/{id}", "status": status, "latency_us": latency_us,
        "bytes_in": 10, "bytes_out": 20, "failure": failure,
    })
}

fn hub_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A signed-in hub user's session cookie value.
pub(crate) async fn session_cookie(hub: &TestHub) -> String {
    const CB: &str = "https://app.example/cb";
    let id = hub.public_client("openid", CB).await;
    hub.user("watcher", "correct horse battery").await;
    hub.auth
        .add_group_member(keyway_auth::ADMINS, "watcher")
        .await
        .unwrap();
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    let url = authorize_url(hub, &id, CB, "openid", &challenge);
    let done = log_in_and_allow(&mut browser, hub, &url, "watcher", "correct horse battery").await;
    assert_eq!(done.status, 303);
    browser.cookie("keyway_session").unwrap().to_string()
}

#[tokio::test]
async fn reported_events_become_edges_metrics_and_a_stream() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    let (ledger, ledger_secret) = hub
        .client(&["client_credentials"], "activity:report", &[])
        .await;
    let (monitor, monitor_secret) = hub
        .client(&["client_credentials"], "activity:read", &[])
        .await;
    // Callers name edges only when they are registered clients.
    let (orders, _) = hub.client(&["client_credentials"], "", &[]).await;
    let orders = orders.as_str();
    let report = client_credentials_token(&hub, &ledger, &ledger_secret).await;
    let read = client_credentials_token(&hub, &monitor, &monitor_secret).await;

    let mut events: Vec<Value> = (1..=100)
        .map(|ms| {
            event(
                &ledger,
                Some(orders),
                if ms % 10 == 0 { 503 } else { 200 },
                ms * 1000,
                None,
            )
        })
        .collect();
    events.push(event(&ledger, None, 401, 50, Some("bad_mac")));
    let post = |token: String, body: Value| {
        let url = hub.url("/activity/v1/events");
        async move {
            let mut request = http().post(url).json(&body);
            if !token.is_empty() {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    let batch = json!({ "dropped": 3, "events": events });
    assert_eq!(post(report.clone(), batch.clone()).await, 202);
    assert_eq!(post(String::new(), batch.clone()).await, 401);
    assert_eq!(
        post(read.clone(), batch).await,
        403,
        "reading is not reporting"
    );
    let foreign = json!({ "events": [event("someone-else", Some(orders), 200, 1, None)] });
    assert_eq!(
        post(report.clone(), foreign).await,
        403,
        "only one's own calls"
    );
    assert_eq!(post(report.clone(), json!({ "events": 7 })).await, 400);

    let snapshot = edges(&hub, &read).await;
    let orders_edge = edge(&snapshot, orders, &ledger).unwrap();
    assert_eq!(orders_edge["calls"], 100);
    assert_eq!(orders_edge["errors"], 10);
    assert!((orders_edge["error_ratio"].as_f64().unwrap() - 0.1).abs() < 1e-9);
    let p50 = orders_edge["p50_ms"].as_f64().unwrap();
    let p99 = orders_edge["p99_ms"].as_f64().unwrap();
    assert!((50.0..=60.0).contains(&p50), "{p50}");
    assert!((99.0..=118.0).contains(&p99), "{p99}");
    assert!(edge(&snapshot, "(unverified)", &ledger).is_some());
    // Nodes carry their registered names (the page shows them, ids on hover).
    assert_eq!(snapshot["names"][orders], "test client", "{snapshot}");
    assert_eq!(snapshot["names"][&ledger], "test client");
    assert_eq!(snapshot["failures"][0]["code"], "bad_mac");
    assert_eq!(snapshot["reporter_dropped_total"], 3);
    let anonymous = http()
        .get(hub.url("/activity/v1/edges"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let weak = http()
        .get(hub.url("/activity/v1/edges"))
        .bearer_auth(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 403);

    let metrics = crate::harness::metrics_text(&hub).await;
    assert!(metrics.contains("keyway_activity_calls_total"), "{metrics}");
    assert!(metrics.contains("keyway_activity_refused_total"));

    // The stream sends a snapshot at once.
    let mut stream = http()
        .get(hub.url("/activity/v1/stream"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(2), stream.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with("event: edges"), "{text}");
    assert!(text.contains(&format!("\"caller\":\"{orders}\"")));
    drop(stream); // an open stream would hold the hub's graceful shutdown

    // The page: signed-in users only (others go to the hub's sign-in page and come back);
    // failures rendered on the server.
    let page = http().get(hub.url("/activity")).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login?next=/activity");
    let cookie = session_cookie(&hub).await;
    let page = http()
        .get(hub.url("/activity"))
        .header("cookie", format!("keyway_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Recent verification failures") && html.contains("bad_mac"));
    let script = http()
        .get(hub.url("/activity/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    hub.finish().await;
}

/// A registered service's view of its peers (from the hub) and its activity reporter.
fn peers_and_reporter(
    hub: &TestHub,
    client_id: &str,
    secret: String,
) -> (HubPeerKeys, keyway_toki_http::ActivitySink) {
    let session = Arc::new(HubSession::new(
        http(),
        HubCredentials {
            hub_url: hub.base.clone(),
            client_id: client_id.to_string(),
            client_secret: secret,
            scope: "toki:peers activity:report".into(),
        },
    ));
    let peers = HubPeerKeys::new(session.clone());
    let config = ReporterConfig {
        max_delay: Duration::from_millis(100),
        ..ReporterConfig::default()
    };
    let (sink, _reporter) = spawn_reporter(session, config);
    (peers, sink)
}

/// A sample service: a toki layer that learns callers from the hub and reports its calls.
struct Sample {
    id: ServiceId,
    seed: [u8; 32],
    base: String,
    peers: HubPeerKeys,
}

async fn sample(hub: &TestHub, seed: u8, scope: &str, callers_need: &'static str) -> Sample {
    let (client_id, secret) = hub
        .client(
            &["client_credentials"],
            &format!("toki:peers activity:report {scope}"),
            &[],
        )
        .await;
    let seed = [seed; 32];
    let key = TokiKeyPair::from_seed(&seed).unwrap();
    hub.auth
        .set_toki_key(&client_id, &key.public_key().to_string())
        .await
        .unwrap();
    let (peers, sink) = peers_and_reporter(hub, &client_id, secret);
    let id = ServiceId::new(client_id).unwrap();
    let rule = peers.clone();
    let layer = TokiLayer::builder(id.clone(), key, peers.clone())
        .resolver(peers.clone())
        .authorize(move |caller, _method, _path| rule.has_scope(caller, callers_need))
        .activity(sink)
        .build();
    let app = axum::Router::new()
        .route(
            "/v1/ping/{n}",
            post(|body: String| async move { format!("pong {body}") }),
        )
        .route_layer(axum::middleware::from_fn(remember_route))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Sample {
        id,
        seed,
        base,
        peers,
    }
}

async fn client_for(from: &Sample, to: &Sample) -> TokiClient {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let callee_key = from.peers.fetch(&to.id).await.unwrap().unwrap().key;
    TokiClient::builder(
        reqwest::Client::new(),
        from.id.clone(),
        TokiKeyPair::from_seed(&from.seed).unwrap(),
        to.id.clone(),
        callee_key,
    )
    .build()
}

#[tokio::test]
async fn two_registered_services_call_each_other_and_show_up_as_edges() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    // orders may call ledger (scope ledger:call); ledger may call orders (orders:call).
    let orders = sample(&hub, 11, "ledger:call", "orders:call").await;
    let ledger = sample(&hub, 12, "orders:call", "ledger:call").await;
    let (monitor, secret) = hub
        .client(&["client_credentials"], "activity:read", &[])
        .await;
    let read = client_credentials_token(&hub, &monitor, &secret).await;

    let to_ledger = client_for(&orders, &ledger).await;
    for n in 0..5 {
        let url = format!("{}/v1/ping/{n}", ledger.base);
        let answer = to_ledger
            .send(to_ledger.http().post(url).body("hi"))
            .await
            .unwrap();
        assert_eq!(
            (answer.status.as_u16(), answer.text()),
            (200, "pong hi".to_string())
        );
    }
    let to_orders = client_for(&ledger, &orders).await;
    for n in 0..3 {
        let url = format!("{}/v1/ping/{n}", orders.base);
        let answer = to_orders.send(to_orders.http().post(url)).await.unwrap();
        assert_eq!(answer.status, 200);
    }
    // An unsigned call is refused, and reported as a failure.
    let refused = http()
        .post(format!("{}/v1/ping/9", ledger.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let (o, l) = (orders.id.as_str(), ledger.id.as_str());
    let mut snapshot = Value::Null;
    for _ in 0..50 {
        snapshot = edges(&hub, &read).await;
        let there = |a, b, n| edge(&snapshot, a, b).is_some_and(|e| e["calls"] == n);
        if there(o, l, 5) && there(l, o, 3) && !snapshot["failures"].as_array().unwrap().is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let forward = edge(&snapshot, o, l).unwrap_or_else(|| panic!("no edge: {snapshot:#}"));
    assert_eq!(forward["calls"], 5, "{snapshot:#}");
    assert_eq!(forward["errors"], 0);
    assert_eq!(edge(&snapshot, l, o).unwrap()["calls"], 3);
    let failure = &snapshot["failures"][0];
    assert_eq!(
        (failure["callee"].as_str(), failure["code"].as_str()),
        (Some(l), Some("missing_token"))
    );
    // Refused before routing: the path, not the template.
    assert_eq!(failure["route"], "/v1/ping/9");

    crate::activity_page::screenshot(&hub, o, l).await;
    hub.finish().await;
}

/// The whole pipeline under load (not a timed assertion: it prints figures and checks only
/// that nothing was lost): 20,000 events offered at 10,000/s through `ActivitySink::record`,
/// the reporter's batches over HTTP, and the hub's ingest.
/// `cargo test -p keyway-hub --test it -- --ignored --nocapture activity_pipeline`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load measurement; run by hand"]
async fn activity_pipeline_load() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    let (ledger, secret) = hub
        .client(&["client_credentials"], "activity:report", &[])
        .await;
    let (monitor, monitor_secret) = hub
        .client(&["client_credentials"], "activity:read", &[])
        .await;
    let read = client_credentials_token(&hub, &monitor, &monitor_secret).await;
    let session = Arc::new(HubSession::new(
        http(),
        HubCredentials {
            hub_url: hub.base.clone(),
            client_id: ledger.clone(),
            client_secret: secret,
            scope: "activity:report".into(),
        },
    ));
    let (sink, _task) = spawn_reporter(session, ReporterConfig::default());
    let template = keyway_toki_http::CallEvent {
        ts_ms: 0,
        caller: Some("orders".into()),
        callee: ledger.clone(),
        method: "POST".into(),
        route: "/v1/entries/{id}".into(),
        status: 200,
        latency_us: 900,
        bytes_in: 14,
        bytes_out: 120,
        failure: None,
    };
    let (total, per_tick) = (20_000u64, 100u64);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let started = std::time::Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..total / per_tick {
        tick.tick().await;
        for _ in 0..per_tick {
            let event = keyway_toki_http::CallEvent {
                ts_ms: hub_now() as u64,
                ..template.clone()
            };
            let before = std::time::Instant::now();
            sink.record(event);
            slowest = slowest.max(before.elapsed());
        }
    }
    let offered_for = started.elapsed();
    let mut received = 0;
    for _ in 0..100 {
        received = edges(&hub, &read).await["events_total"].as_u64().unwrap();
        if received + sink.dropped() >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = started.elapsed();
    println!(
        "offered {total} events in {:.2} s ({:.0}/s); hub received {received} after {:.2} s \
         ({:.0}/s); dropped {}; slowest record() {:?}",
        offered_for.as_secs_f64(),
        total as f64 / offered_for.as_secs_f64(),
        done.as_secs_f64(),
        received as f64 / done.as_secs_f64(),
        sink.dropped(),
        slowest,
    );
    assert_eq!(received + sink.dropped(), total);
    hub.finish().await;
}

/// The "done when" of the broker side: a consumer registered at the hub learns the sender's
/// key from the hub on its first message, drops a tampered one, and reports both; the hub's
/// map shows the sender → consumer edge and the failure.
#[tokio::test]
async fn a_registered_broker_consumer_reports_messages_as_edges() {
    let Ok(url) = std::env::var("KEYWAY_TEST_NATS_URL") else {
        keyway_kernel::report_skip(
            "broker activity",
            "KEYWAY_TEST_NATS_URL is not set",
            "set it to a NATS server, e.g. nats://127.0.0.1:4222",
        );
        return;
    };
    let hub = TestHub::start(&Backend::Sqlite).await;
    let (sender_id, _) = hub.client(&["client_credentials"], "toki:peers", &[]).await;
    let sender_key = TokiKeyPair::from_seed(&[13; 32]).unwrap();
    hub.auth
        .set_toki_key(&sender_id, &sender_key.public_key().to_string())
        .await
        .unwrap();
    let sender = ServiceId::new(sender_id).unwrap();
    let (consumer_id, consumer_secret) = hub
        .client(&["client_credentials"], "toki:peers activity:report", &[])
        .await;
    let (peers, sink) = peers_and_reporter(&hub, &consumer_id, consumer_secret);
    let consumer =
        keyway_toki_broker::TokiConsumer::new(peers.clone(), keyway_toki::MessagePolicy::default())
            .with_resolver(peers)
            .with_activity(ServiceId::new(consumer_id.clone()).unwrap(), sink);
    let publisher = keyway_toki_broker::TokiPublisher::new(sender.clone(), sender_key);

    let nats = async_nats::connect(&url)
        .await
        .expect("NATS at KEYWAY_TEST_NATS_URL");
    let subject = format!("keyway.hub.activity.{}", std::process::id());
    let mut subscription = nats.subscribe(subject.clone()).await.unwrap();
    nats.flush().await.unwrap();
    for n in 0..3 {
        publisher
            .publish_nats(
                &nats,
                &subject,
                bytes::Bytes::from(format!("{{\"n\":{n}}}")),
            )
            .await
            .unwrap();
    }
    let signed = publisher
        .nats_headers(&subject, b"{\"n\":3}", async_nats::HeaderMap::new())
        .unwrap();
    nats.publish_with_headers(
        subject.clone(),
        signed,
        bytes::Bytes::from_static(b"{\"n\":4}"),
    )
    .await
    .unwrap();
    publisher
        .publish_nats(&nats, &subject, bytes::Bytes::from_static(b"{\"n\":5}"))
        .await
        .unwrap();
    nats.flush().await.unwrap();
    for _ in 0..4 {
        let (_, verified) = tokio::time::timeout(
            Duration::from_secs(10),
            consumer.next_nats(&mut subscription),
        )
        .await
        .expect("messages within 10 s")
        .unwrap();
        assert_eq!(verified.sender, sender);
    }

    let (monitor, secret) = hub
        .client(&["client_credentials"], "activity:read", &[])
        .await;
    let read = client_credentials_token(&hub, &monitor, &secret).await;
    let (p, c) = (sender.as_str(), consumer_id.as_str());
    let snapshot = wait_for_edge(&hub, &read, (p, c), 4, true).await;
    let messages = edge(&snapshot, p, c).unwrap_or_else(|| panic!("no edge: {snapshot:#}"));
    assert_eq!(messages["calls"], 4, "{snapshot:#}");
    let failure = &snapshot["failures"][0];
    assert_eq!(
        (failure["method"].as_str(), failure["code"].as_str()),
        (Some("NATS"), Some("bad_signature")),
        "{snapshot:#}"
    );
    assert_eq!(failure["route"], subject.as_str());
    hub.finish().await;
}

/// The page without JavaScript: a legend, failures by registered name (escaped: names are
/// chosen by whoever registers a client) with the id on hover, and readable UTC times.
#[tokio::test]
async fn the_page_names_clients_as_text_and_explains_itself() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    let hostile = "<img src=x onerror=alert(1)>";
    let ledger = hub
        .auth
        .create_client(keyway_auth::NewClient {
            name: hostile.into(),
            grant_types: vec!["client_credentials".into()],
            scope: "activity:report".into(),
            ..keyway_auth::NewClient::default()
        })
        .await
        .unwrap();
    let secret = ledger.client_secret.unwrap().expose().to_string();
    let ledger = ledger.client.client_id;
    let report = client_credentials_token(&hub, &ledger, &secret).await;
    let at: i64 = 1_764_000_000_250; // 2025-11-24T16:00:00.250Z
    let mut refused = event(&ledger, None, 401, 50, Some("bad_mac"));
    refused["ts_ms"] = json!(at);
    let status = http()
        .post(hub.url("/activity/v1/events"))
        .bearer_auth(&report)
        .json(&json!({ "events": [refused] }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
    let cookie = session_cookie(&hub).await;
    let html = http()
        .get(hub.url("/activity"))
        .header("cookie", format!("keyway_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(hostile), "{html}");
    assert!(
        html.contains(&format!(
            "<td title=\"{ledger}\">&#60;img src=x onerror=alert(1)&#62;</td>"
        )),
        "{html}"
    );
    assert!(html.contains("<td>2025-11-24 16:00:00.250</td>"), "{html}");
    assert!(html.contains("Legend") && html.contains("42 calls · p99 3 ms"));
    assert!(html.contains("(unverified)") && html.contains("More than 5 %"));
    hub.finish().await;
}

/// An open stream checks its reader again every 2 s: a revoked token ends it.
#[tokio::test]
async fn an_open_stream_ends_when_its_token_is_revoked() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    let (monitor, monitor_secret) = hub
        .client(&["client_credentials"], "activity:read", &[])
        .await;
    let read = client_credentials_token(&hub, &monitor, &monitor_secret).await;
    let mut stream = http()
        .get(hub.url("/activity/v1/stream"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.unwrap().is_some());
    let (status, _, _) = crate::harness::post_form(
        &hub.url("/oauth2/revoke"),
        Some((&monitor, &monitor_secret)),
        &[("token", &read)],
    )
    .await;
    assert_eq!(status, 200);
    // The stream ends (a chunk of None) within a few seconds instead of running on.
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        while let Some(_chunk) = stream.chunk().await.unwrap() {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream kept running after its token was revoked"
    );
    hub.finish().await;
}
