//! The hub's edge: every API route refuses a token minted for another audience; metric label
//! sets stay bounded whatever request text says; refusals of verified toki callers are counted
//! as refusals.

use keyway_auth::Clock as _;
use serde_json::json;

use crate::harness::{Backend, TestHub, http, post_form};

/// Every authenticated API route of the hub (method, a concrete path). The toki hello and the
/// OAuth endpoints authenticate clients differently and are not listed.
const API_ROUTES: &[(&str, &str)] = &[
    ("POST", "/link/v1/batches"),
    ("GET", "/link/v1/conflicts"),
    ("GET", "/link/v1/stats"),
    ("POST", "/activity/v1/events"),
    ("GET", "/activity/v1/edges"),
    ("GET", "/activity/v1/stream"),
    ("GET", "/toki/v1/peers/some-client"),
    ("GET", "/api/Contact"),
    ("GET", "/api/Contact('x')"),
    ("GET", "/api/Contact/$count"),
    ("POST", "/api/Contact"),
    ("PUT", "/api/Contact('x')"),
    ("PATCH", "/api/Contact('x')"),
    ("DELETE", "/api/Contact('x')"),
    ("GET", "/oauth2/userinfo"),
    ("POST", "/oauth2/userinfo"),
    ("GET", "/scim/v2/Users"),
    ("POST", "/scim/v2/Users"),
    ("GET", "/scim/v2/Users/x"),
    ("PUT", "/scim/v2/Users/x"),
    ("PATCH", "/scim/v2/Users/x"),
    ("DELETE", "/scim/v2/Users/x"),
    ("GET", "/scim/v2/Groups"),
    ("POST", "/scim/v2/Groups"),
    ("GET", "/scim/v2/Groups/x"),
    ("PUT", "/scim/v2/Groups/x"),
    ("PATCH", "/scim/v2/Groups/x"),
    ("DELETE", "/scim/v2/Groups/x"),
    ("GET", "/scim/v2/ServiceProviderConfig"),
    ("GET", "/scim/v2/ResourceTypes"),
    ("GET", "/scim/v2/ResourceTypes/User"),
    ("GET", "/scim/v2/Schemas"),
    ("GET", "/scim/v2/Schemas/urn:x"),
    ("GET", "/scim/v2/Bulk"),
];

const ALL_SCOPES: &str = "link:submit link:read activity:report activity:read toki:peers \
                          contact.read contact.readwrite admin.read scim";

fn crm() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/crm/schemas.yaml")
}

async fn token(hub: &TestHub, id: &str, secret: &str, resource: Option<&str>) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    let (status, _, body) = post_form(&hub.url("/oauth2/token"), Some((id, secret)), &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn call(hub: &TestHub, method: &str, path: &str, token: &str) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = http()
        .request(method, hub.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, challenge)
}

#[tokio::test]
async fn every_api_route_refuses_a_token_for_another_audience() {
    let hub = TestHub::start_with_schemas(&Backend::Sqlite, crm()).await;
    let (id, secret) = hub.client(&["client_credentials"], ALL_SCOPES, &[]).await;
    let foreign = token(&hub, &id, &secret, Some("https://third-party.example/api")).await;
    let own = token(&hub, &id, &secret, None).await;
    for (method, path) in API_ROUTES {
        let (status, challenge) = call(&hub, method, path, &foreign).await;
        assert_eq!(status, 401, "{method} {path} accepted a foreign token");
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{method} {path}: {challenge}"
        );
        // The same client with a token for the hub gets past authentication.
        let (status, _) = call(&hub, method, path, &own).await;
        assert_ne!(status, 401, "{method} {path} refused the hub's own token");
    }
    hub.finish().await;
}

#[tokio::test]
async fn metric_labels_never_come_from_request_text() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    for n in 0..40 {
        let method = reqwest::Method::from_bytes(format!("M{n:06}").as_bytes()).unwrap();
        let response = http()
            .request(method, hub.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405);
    }
    let (reporter, secret) = hub
        .client(&["client_credentials"], "activity:report", &[])
        .await;
    let report = token(&hub, &reporter, &secret, None).await;
    let events: Vec<_> = (0..40)
        .map(|n| {
            json!({"ts_ms": hub.clock.now_ms(), "caller": format!("ghost-{n:04}"), "callee": reporter,
                   "status": 200, "latency_us": 10})
        })
        .chain((0..40).map(|n| {
            json!({"ts_ms": hub.clock.now_ms(), "caller": null, "callee": reporter, "status": 401,
                   "failure": format!("made_up_{n:04}")})
        }))
        .collect();
    let response = http()
        .post(hub.url("/activity/v1/events"))
        .bearer_auth(&report)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let metrics = crate::harness::metrics_text(&hub).await;
    for planted in ["M0000", "ghost-", "made_up_"] {
        assert!(
            !metrics.contains(planted),
            "{planted} became a metric label"
        );
    }
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    hub.finish().await;
}

#[tokio::test]
async fn sign_in_pages_write_nothing_and_refuse_over_long_parameters() {
    use crate::browser::{Browser, authorize_url, log_in_and_allow, pkce};
    let hub = TestHub::start(&Backend::Sqlite).await;
    let cb = "http://127.0.0.1:9/cb";
    let (id, _) = hub.client(&["authorization_code"], "read", &[cb]).await;
    let (_, challenge) = pkce();
    for _ in 0..20 {
        let response = http()
            .get(authorize_url(&hub, &id, cb, "read", &challenge))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        hub.count_rows("authorization_requests").await,
        0,
        "anonymous sign-in pages are stored"
    );
    // A 65,000-byte state is refused at the client's redirect URI, and not echoed back.
    let long = "s".repeat(65_000);
    let url = authorize_url(&hub, &id, cb, "read", &challenge).replace("st-123", &long);
    let response = http().get(url).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=invalid_request"), "{location}");
    assert!(!location.contains("sssssss"), "the state was echoed");
    // A repeated state (RFC 6749 §3.1) is refused too, echoing neither value.
    let url = format!(
        "{}&state=other",
        authorize_url(&hub, &id, cb, "read", &challenge)
    );
    let response = http().get(url).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=invalid_request"), "{location}");
    assert!(!location.contains("state="), "{location}");
    // The sealed request still completes a normal sign-in.
    hub.user("ada", "correct horse battery").await;
    let mut browser = Browser::new();
    let authorize = authorize_url(&hub, &id, cb, "read", &challenge);
    let page = log_in_and_allow(
        &mut browser,
        &hub,
        &authorize,
        "ada",
        "correct horse battery",
    )
    .await;
    assert!(page.redirect_param("code").is_some());
    hub.finish().await;
}

#[tokio::test]
async fn parallel_wrong_passwords_are_checked_only_within_the_budget() {
    use crate::browser::{Browser, authorize_url, pkce};
    let hub = TestHub::start(&Backend::Sqlite).await;
    let cb = "http://127.0.0.1:9/cb";
    let (id, _) = hub.client(&["authorization_code"], "read", &[cb]).await;
    hub.user("erin", "a long passphrase").await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    let login = browser
        .get(&authorize_url(&hub, &id, cb, "read", &challenge))
        .await;
    let (request_id, csrf) = (login.field("request_id"), login.field("csrf"));
    let cookie = format!(
        "keyway_browser={}",
        browser.cookie("keyway_browser").unwrap()
    );
    let attempts = (0..40).map(|_| {
        let form = [
            ("request_id", request_id.as_str()),
            ("csrf", csrf.as_str()),
            ("username", "erin"),
            ("password", "wrong password"),
        ];
        http()
            .post(hub.url("/oauth2/login"))
            .header("cookie", &cookie)
            .form(&form)
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + throttled, 40, "{statuses:?}");
    assert!(checked <= 5, "{checked} passwords checked: {statuses:?}");
    hub.finish().await;
}

#[cfg(unix)]
#[tokio::test]
async fn secret_files_are_private_and_loose_ones_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let options = crate::sealed_secrets::sqlite_options(dir.path());
    let hub = keyway_hub::Hub::open(&options).await.unwrap();
    hub.state.auth.store().close().await;
    drop(hub);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = dir.path().join("data");
    assert_eq!(mode(&data.join("keyway.db")), 0o600, "the database");
    // The one secret outside the store is the master key; signing and toki keys are sealed in
    // the store under it.
    let master = data.join("master.key");
    assert_eq!(mode(&master), 0o600, "the master key");
    assert!(
        !data.join("keys").exists()
            || std::fs::read_dir(data.join("keys"))
                .unwrap()
                .next()
                .is_none()
    );
    assert!(!data.join(keyway_hub::TOKI_KEY_FILE).exists());
    // A master key others can read stops the hub, naming the file.
    std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = match keyway_hub::Hub::open(&options).await {
        Ok(_) => panic!("a 0644 master key was accepted"),
        Err(err) => err.to_string(),
    };
    assert!(
        err.contains(&master.display().to_string()) && err.contains("0644"),
        "{err}"
    );
}

/// Idle and slow-header connections are closed after the header-read timeout, and a full
/// house of them does not keep a real client out for longer than that.
#[tokio::test]
async fn idle_and_slow_header_connections_are_closed() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = keyway_hub::HubOptions {
        data_dir: dir.path().to_path_buf(),
        database_url: format!("sqlite://{}", dir.path().join("keyway.db").display()),
        auth: keyway_auth::AuthConfig::new(&format!("http://{addr}")),
        schemas: None,
        allow_drop_columns: false,
        data_page_size: None,
        link_rule_priority: None,
        trusted_proxies: Vec::new(),
        connections: keyway_hub::ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            max_connections: 20,
            max_connections_per_address: 64,
            drain_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(60),
            ..keyway_hub::ConnectionLimits::default()
        },
        upstreams: Vec::new(),
        gateway: keyway_hub::GatewayOptions::default(),
        tls: None,
        ca_file: None,
    };
    let hub = keyway_hub::Hub::open(&options).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hub.serve(listener, async {
        let _ = stopped.await;
    }));
    // Twenty idle sockets and one that sends half a request head fill every slot.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server closes them: reads end (EOF or reset) instead of hanging.
    for socket in idle.iter_mut().take(3) {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await;
        assert!(read.is_ok(), "an idle connection was kept open");
    }
    // A real client gets its answer once the idle ones are gone.
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        http().get(format!("http://{addr}/healthz")).send(),
    )
    .await
    .expect("the hub stayed full of idle connections")
    .unwrap();
    assert_eq!(answer.status(), 200);
    // A kept-alive connection that goes quiet is closed too.
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), kept.read_to_end(&mut seen)).await;
    assert!(
        closed.is_ok(),
        "an idle kept-alive connection was kept open"
    );
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
