//! The hub's own APIs (linkage, data) called with oscartoki by registered services, beside
//! bearer tokens: identity at `GET /toki/v1/hub`, scopes from the registration, refusals in the
//! `Toki` scheme, and the calls on the hub's activity map.

use keyway_link::LinkService;
use keyway_toki::{
    ClientSession, Clock as _, ManualClock, PendingHello, RequestParts, ServiceId, SystemClock,
    SystemEntropy, TokiConfig, TokiKeyPair, TokiPublicKey, content_digest,
};
use keyway_toki_http::{TokiClient, TokiHttpError};
use serde_json::{Value, json};

use crate::activity::wait_for_edge;
use crate::harness::{Backend, TestHub, client_credentials_token, get_json, http};

fn crm() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/crm/schemas.yaml")
}

fn hash(n: u32) -> String {
    format!("{n:08x}").repeat(8)
}

/// A registered service: an OAuth client with `scope` and the toki key of `seed`.
pub(crate) async fn service(hub: &TestHub, seed: u8, scope: &str) -> (ServiceId, TokiKeyPair) {
    let (client_id, _secret) = hub.client(&["client_credentials"], scope, &[]).await;
    let key = TokiKeyPair::from_seed(&[seed; 32]).unwrap();
    hub.auth
        .set_toki_key(&client_id, &key.public_key().to_string())
        .await
        .unwrap();
    (ServiceId::new(client_id).unwrap(), key)
}

/// The hub's toki identity as it publishes it.
pub(crate) async fn hub_identity(hub: &TestHub) -> (ServiceId, TokiPublicKey) {
    let answer = get_json(hub, "/toki/v1/hub", None).await;
    let service = ServiceId::new(answer["service"].as_str().unwrap()).unwrap();
    let key = TokiPublicKey::parse(answer["toki_key"].as_str().unwrap()).unwrap();
    (service, key)
}

pub(crate) async fn toki_client(hub: &TestHub, id: &ServiceId, key: TokiKeyPair) -> TokiClient {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (hub_id, hub_key) = hub_identity(hub).await;
    TokiClient::builder(http(), id.clone(), key, hub_id, hub_key).build()
}

#[tokio::test]
async fn registered_services_call_the_linkage_and_data_apis_with_toki() {
    let hub = TestHub::start_with_schemas(&Backend::Sqlite, crm()).await;
    let (hub_id, _) = hub_identity(&hub).await;
    assert_eq!(hub_id.as_str(), hub.base, "the hub's toki id is its issuer");
    let (site, key) = service(&hub, 21, "link:submit link:read contact.readwrite").await;
    let link = LinkService::open(hub.auth.store().clone(), b"unused")
        .await
        .unwrap();
    link.create_partner("TK", site.as_str(), 0).await.unwrap();
    let client = toki_client(&hub, &site, key).await;

    let batch = format!("PATID,F_L_D_S\np1,{}\np2,{}\n", hash(1), hash(2));
    let submit = || {
        client
            .http()
            .post(hub.url("/link/v1/batches"))
            .header("content-type", "text/csv")
            .body(batch.clone())
    };
    let first = client.send(submit()).await.unwrap();
    assert_eq!(first.status, 200, "{}", first.text());
    let lines: Vec<String> = first.text().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[1].starts_with("p1,") && lines[1].contains(",NEW,"),
        "{lines:?}"
    );
    // Resubmitting (through the same session) answers the same UUIDs.
    let again = client.send(submit()).await.unwrap();
    assert_eq!(
        again.text().lines().nth(1).map(|l| l.split(',').nth(1)),
        Some(lines[1].split(',').nth(1))
    );
    let stats = client
        .send(client.http().get(hub.url("/link/v1/stats")))
        .await
        .unwrap();
    assert_eq!(stats.status, 200, "{}", stats.text());

    let created = client
        .send(
            client
                .http()
                .post(hub.url("/api/Contact"))
                .json(&json!({"firstName": "Ada", "lastName": "Byron"})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    let page = client
        .send(
            client
                .http()
                .get(hub.url("/api/Contact?$filter=lastName eq 'Byron'")),
        )
        .await
        .unwrap();
    let page: Value = serde_json::from_slice(&page.body).unwrap();
    assert_eq!(page["value"][0]["firstName"], "Ada");
    // Scopes are the registration's: no organization scope, a signed 403 in the Toki scheme.
    let refused = client
        .send(client.http().get(hub.url("/api/Organization")))
        .await
        .unwrap();
    assert_eq!(refused.status, 403);
    let challenge = refused.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Toki error=\"insufficient_scope\""),
        "{challenge}"
    );

    // The hub verified these calls itself: they are edges of its activity map.
    let (monitor, secret) = hub
        .client(&["client_credentials"], "activity:read", &[])
        .await;
    let read = client_credentials_token(&hub, &monitor, &secret).await;
    let snapshot = wait_for_edge(&hub, &read, (site.as_str(), hub.base.as_str()), 6, false).await;
    let edge = crate::activity::edge(&snapshot, site.as_str(), &hub.base)
        .unwrap_or_else(|| panic!("no edge: {snapshot:#}"));
    assert_eq!(edge["calls"], 6, "{edge}");
    // The hub is no registered client, yet the map names it.
    assert_eq!(snapshot["names"][&hub.base], "keyway hub", "{snapshot}");
    // The hub's signed 403 is a refusal, on the map and in the metrics.
    assert_eq!(edge["refused"], 1, "{edge}");
    assert_eq!(snapshot["failures"][0]["code"], "forbidden", "{snapshot}");
    let metrics = crate::harness::metrics_text(&hub).await;
    let forbidden = metrics
        .lines()
        .find(|l| l.starts_with("toki_http_forbidden_total"))
        .unwrap_or_else(|| panic!("no toki_http_forbidden_total: {metrics}"));
    assert!(!forbidden.ends_with(" 0"), "{forbidden}");
    hub.finish().await;
}

/// A session driven by hand, to send exactly the bytes a test wants.
pub(crate) struct HandSession {
    session: ClientSession,
    host: String,
}

pub(crate) async fn hand_session(hub: &TestHub, id: &ServiceId, key: &TokiKeyPair) -> HandSession {
    let (hub_id, hub_key) = hub_identity(hub).await;
    let pending = PendingHello::new(
        key,
        id.clone(),
        hub_id,
        SystemClock.now_ms(),
        &SystemEntropy::default(),
    )
    .unwrap();
    let welcome = http()
        .post(hub.url("/.well-known/oscartoki/hello"))
        .body(pending.wire().to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(welcome.status(), 200);
    let welcome = welcome.bytes().await.unwrap();
    let session = ClientSession::establish(
        pending,
        &welcome,
        &hub_key,
        &SystemClock,
        &TokiConfig::default(),
    )
    .unwrap();
    HandSession {
        session,
        host: hub.base.trim_start_matches("http://").to_string(),
    }
}

impl HandSession {
    /// The `oscartoki` value for `GET path` (empty body) at `clock`'s time.
    pub(crate) fn sign_get(&mut self, path: &str, clock: &dyn keyway_toki::Clock) -> String {
        let digest = content_digest(b"");
        let parts = RequestParts {
            method: "GET",
            authority: &self.host,
            path_and_query: path,
            content_digest: &digest,
        };
        self.session
            .sign_request(clock, &parts)
            .unwrap()
            .header_value
    }
}

pub(crate) async fn get_with(hub: &TestHub, path: &str, token: &str) -> (u16, String) {
    get_via(hub, None, path, token).await
}

/// `GET path` at `hub` with an `oscartoki` header, and `Host: host` when given (as a load
/// balancer in front of several nodes passes it on: the token binds the authority): the
/// status and the challenge.
pub(crate) async fn get_via(
    hub: &TestHub,
    host: Option<&str>,
    path: &str,
    token: &str,
) -> (u16, String) {
    let mut request = http().get(hub.url(path)).header("oscartoki", token);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn the_hub_refuses_unknown_altered_replayed_and_stale_toki_calls() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    let (reader, key) = service(&hub, 31, "link:read").await;

    // A caller the hub has no toki key for cannot open a session.
    let stranger = ServiceId::new("stranger").unwrap();
    let unknown = toki_client(&hub, &stranger, TokiKeyPair::from_seed(&[32; 32]).unwrap()).await;
    match unknown
        .send(unknown.http().get(hub.url("/link/v1/stats")))
        .await
    {
        Err(TokiHttpError::HandshakeRefused { status: 401, error }) => {
            assert_eq!(error.map(|e| e.code()), Some("unknown_peer"));
        }
        other => panic!("expected a refused handshake, got {other:?}"),
    }
    // Garbage in the header: 401 naming the problem, never a success.
    let (status, challenge) = get_with(&hub, "/link/v1/stats", "v1.garbage").await;
    assert_eq!(status, 401);
    assert!(
        challenge.starts_with("Toki error=\"malformed\""),
        "{challenge}"
    );

    // Well formed, but naming no session: refused before the body is read.
    let forged = keyway_toki::RequestToken {
        session_id: keyway_toki::SessionId([7; 16]),
        epoch: 0,
        counter: 1,
        created_ms: SystemClock.now_ms() as u64,
        flags: 0,
        mac: [0; 32],
    };
    let response = http()
        .post(hub.url("/link/v1/batches"))
        .header("oscartoki", forged.encode())
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"unknown_session\""),
        "{challenge}"
    );

    let mut hand = hand_session(&hub, &reader, &key).await;
    let token = hand.sign_get("/link/v1/stats", &SystemClock);
    assert_eq!(get_with(&hub, "/link/v1/stats", &token).await.0, 200);
    // The same token again: a replay.
    let (status, challenge) = get_with(&hub, "/link/v1/stats", &token).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"replayed\""), "{challenge}");
    // Signed for one path, sent to another: the MAC does not verify.
    let token = hand.sign_get("/link/v1/stats", &SystemClock);
    let (status, challenge) = get_with(&hub, "/link/v1/conflicts", &token).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"bad_mac\""), "{challenge}");
    // Created a minute ago: stale.
    let past = ManualClock::new(SystemClock.now_ms() - 60_000);
    let token = hand.sign_get("/link/v1/stats", &past);
    let (status, challenge) = get_with(&hub, "/link/v1/stats", &token).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"token_stale\""), "{challenge}");
    // A service deleted at the hub is refused on its open session.
    hub.auth.delete_client(reader.as_str()).await.unwrap();
    hub.clock.advance_ms(1_100); // past the hub's one-second client cache
    let token = hand.sign_get("/link/v1/stats", &SystemClock);
    let (status, challenge) = get_with(&hub, "/link/v1/stats", &token).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("error=\"unknown_peer\""), "{challenge}");
    // Neither toki nor a bearer token: the Bearer challenge as before.
    let response = http().get(hub.url("/link/v1/stats")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    hub.finish().await;
}

/// A registered service calls another client's API through the gateway with toki, as it
/// calls the hub's own APIs: the answer is signed by the hub, and the target sees the
/// service acting (the hub's own token, never the toki header).
#[tokio::test]
async fn a_service_calls_through_the_gateway_with_toki() {
    let api = crate::gateway::upstream().await;
    let hub = TestHub::start(&Backend::Sqlite).await;
    let (caller, key) = service(&hub, 31, "orders.read").await;
    let target = crate::gateway::callable_api(&hub, caller.as_str(), &api).await;
    let client = toki_client(&hub, &caller, key).await;
    let url = hub.url(&format!("/gateway/{target}/echo/v1"));
    let answer = client.send(client.http().get(&url)).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let seen: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(seen["path"], "/api/echo/v1");
    let bearer = seen["authorization"].as_str().unwrap();
    let minted = crate::logout::claims_of(bearer.strip_prefix("Bearer ").unwrap());
    assert_eq!(minted["sub"], caller.as_str());
    assert_eq!(minted["act"]["sub"], caller.as_str());
    hub.finish().await;
}
