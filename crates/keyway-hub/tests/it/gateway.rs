//! The platform gateway `/gateway/{client}/{path…}` against a real upstream HTTP server, on
//! every backend: the rule, the minted token, streaming, headers, and upstream failures.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use keyway_auth::{ClientPolicy, RulePurpose};

use crate::browser::obtain_code;
use crate::harness::{TestHub, backends, client_credentials_token, code_exchange, http};
use crate::logout::claims_of;

const CB: &str = "http://127.0.0.1:9/a/callback";

/// An upstream API: `/api/echo…` answers what it received; `/api/redirect` redirects,
/// `/api/slow` answers after 3 s, `/api/huge` answers 2 MiB (beyond the test's limit),
/// `/api/stall` sends a head and a first part, then nothing.
pub(crate) async fn upstream() -> String {
    async fn echo(headers: HeaderMap, request: Request) -> impl IntoResponse {
        let uri = request.uri().clone();
        let method = request.method().to_string();
        let body = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .unwrap();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        axum::Json(serde_json::json!({
            "method": method,
            "path": uri.path(),
            "query": uri.query(),
            "authorization": header("authorization"),
            "forwarded": header("forwarded"),
            "cookie": header("cookie"),
            "x_custom": header("x-custom"),
            "dpop": header("dpop"),
            "body_len": body.len(),
        }))
    }
    let app = Router::new()
        .route("/api/echo", any(echo))
        .route("/api/echo/{*rest}", any(echo))
        .route("/twins/{*rest}", any(echo))
        .route(
            "/api/redirect",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [("location", "https://elsewhere.example/")],
                )
            }),
        )
        .route(
            "/api/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route(
            "/api/stall",
            get(|| async {
                let first = futures_util::stream::once(async {
                    Ok::<_, std::io::Error>(Bytes::from_static(b"{\"partial\":"))
                });
                axum::body::Body::from_stream(futures_util::StreamExt::chain(
                    first,
                    futures_util::stream::pending(),
                ))
            }),
        )
        .route(
            "/api/huge",
            get(|| async { Bytes::from(vec![0u8; 2 * 1024 * 1024]) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A client whose API is the upstream at `api` (its `/api`), which `caller` may call through
/// the gateway (a rule without a scope cap): the target's client_id.
pub(crate) async fn callable_api(hub: &TestHub, caller: &str, api: &str) -> String {
    let policy = ClientPolicy {
        api_url: Some(format!("{api}/api")),
        ..ClientPolicy::default()
    };
    let (target, _) = hub
        .client_with_policy(&["client_credentials"], "x", &[], policy)
        .await;
    hub.auth
        .allow_client(caller, &target, RulePurpose::Call, None)
        .await
        .unwrap();
    target
}

async fn call(
    hub: &TestHub,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut request = http()
        .request(method, hub.url(path))
        .header("cookie", "keyway_session=secret")
        .header("x-custom", "kept")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test]
async fn calls_cross_by_rule_with_a_token_minted_for_the_target() {
    let api = upstream().await;
    for backend in backends() {
        let options = keyway_hub::GatewayOptions {
            max_body_bytes: 1024 * 1024,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(1),
        };
        let hub = TestHub::start_with_gateway(&backend, options).await;
        let a = hub
            .client(
                &["client_credentials", "authorization_code"],
                "orders.read profile",
                &[CB],
            )
            .await;
        let b_api = format!("{api}/api");
        let b = hub
            .auth
            .create_client(keyway_auth::NewClient {
                name: "orders-api".into(),
                grant_types: vec!["client_credentials".into()],
                scope: "x".into(),
                policy: ClientPolicy {
                    api_url: Some(b_api.clone()),
                    ..ClientPolicy::default()
                },
                ..keyway_auth::NewClient::default()
            })
            .await
            .unwrap()
            .client
            .client_id;
        let a_token = client_credentials_token(&hub, &a.0, &a.1).await;
        let get = reqwest::Method::GET;

        // No rule yet: 403, and nothing reaches the upstream.
        let (status, body) = call(
            &hub,
            get.clone(),
            &format!("/gateway/{b}/echo"),
            Some(&a_token),
            vec![],
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("no rule"),
            "{body}"
        );
        hub.auth
            .allow_client(&a.0, &b, RulePurpose::Call, Some("orders.read"))
            .await
            .unwrap();

        let (status, seen) = call(
            &hub,
            get.clone(),
            &format!("/gateway/{b}/echo/v1/orders?status=open&q=a%20b"),
            Some(&a_token),
            vec![],
        )
        .await;
        assert_eq!(status, 200, "{seen}");
        assert_eq!(seen["path"], "/api/echo/v1/orders");
        assert_eq!(seen["query"], "status=open&q=a%20b");
        assert_eq!(
            seen["cookie"],
            serde_json::Value::Null,
            "hub cookies stay behind"
        );
        assert_eq!(seen["x_custom"], "kept");
        assert!(
            seen["forwarded"]
                .as_str()
                .unwrap()
                .starts_with("for=127.0.0.1;"),
            "{seen}"
        );
        let bearer = seen["authorization"]
            .as_str()
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap()
            .to_string();
        assert_ne!(bearer, a_token, "the caller's own token stays behind");
        let claims = claims_of(&bearer);
        assert_eq!(claims["aud"], serde_json::json!([b, b_api]));
        assert_eq!(claims["act"]["sub"], a.0.as_str());
        assert_eq!(claims["sub"], a.0.as_str());
        assert_eq!(claims["scope"], "orders.read");
        // The hub says who forwarded, in its own name: the caller's Host and forwarding
        // headers are not passed on.
        let hub_host = hub.base.trim_start_matches("http://");
        assert!(
            seen["forwarded"]
                .as_str()
                .unwrap()
                .ends_with(&format!("host=\"{hub_host}\"")),
            "{seen}"
        );
        // Reused while it lives; the target named by its registered name works too.
        let (_, again) = call(
            &hub,
            get.clone(),
            "/gateway/orders-api/echo",
            Some(&a_token),
            vec![],
        )
        .await;
        assert_eq!(
            again["authorization"].as_str().unwrap(),
            format!("Bearer {bearer}")
        );

        // A changed rule mints anew (its scope may differ).
        for (rule_scope, minted_scope) in [
            (None, "orders.read profile"),
            (Some("orders.read"), "orders.read"),
        ] {
            hub.auth
                .allow_client(&a.0, &b, RulePurpose::Call, rule_scope)
                .await
                .unwrap();
            let path = format!("/gateway/{b}/echo");
            let (_, seen) = call(&hub, get.clone(), &path, Some(&a_token), vec![]).await;
            let bearer = seen["authorization"].as_str().unwrap();
            let minted = claims_of(bearer.strip_prefix("Bearer ").unwrap());
            assert_eq!(minted["scope"], minted_scope, "rule scope {rule_scope:?}");
        }

        // A token for B's API comes only from the gateway or an exchange under a rule: asking
        // for it as a resource indicator is refused (its API URL, or a path under it).
        // Also spelt as a resource server would read it the same (scheme case, dot segments,
        // an encoded letter, a query, a padded port).
        let (scheme_host, path) = b_api.split_at(b_api.len() - "/api".len());
        let padded_port = b_api.replacen("127.0.0.1:", "127.0.0.1:0", 1);
        for resource in [
            b_api.clone(),
            format!("{b_api}/v1/orders"),
            format!("{b_api}/"),
            b_api.replacen("http://", "HTTP://", 1),
            format!("{scheme_host}/.{path}"),
            format!("{scheme_host}/%61pi"),
            format!("{b_api}?x=1"),
            padded_port,
            // Read as B's API by lenient resource servers (folding case, stripping
            // parameters, decoding twice or at NUL, by prefix).
            format!("{scheme_host}/API"),
            format!("{b_api};x"),
            format!("{scheme_host}//api"),
            format!("{scheme_host}/%2561pi"),
            format!("{b_api}%00"),
            format!("{b_api}%2forders"),
            format!("{b_api}../"),
            b_api.replacen("127.0.0.1", "[::ffff:127.0.0.1]", 1),
            b_api.replacen("http://", "https://", 1),
        ] {
            let (status, _, body) = crate::harness::post_form(
                &hub.url("/oauth2/token"),
                Some((&a.0, &a.1)),
                &[
                    ("grant_type", "client_credentials"),
                    ("resource", &resource),
                ],
            )
            .await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_target")),
                "{resource}: {body}"
            );
        }
        let (status, _, body) = crate::harness::post_form(
            &hub.url("/oauth2/token"),
            Some((&a.0, &a.1)),
            &[
                ("grant_type", "client_credentials"),
                ("resource", &format!("{b_api}x")),
            ],
        )
        .await;
        assert_eq!(
            status, 200,
            "a different URL that merely starts alike: {body}"
        );

        // A user's token: the target sees the user, and the caller acting.
        let (code, verifier) = obtain_code(&hub, &a.0, CB, "orders.read").await;
        let (_, tokens) = code_exchange(&hub, (&a.0, &a.1), &code, CB, &verifier).await;
        let alice = tokens["access_token"].as_str().unwrap();
        let (status, seen) = call(
            &hub,
            get.clone(),
            &format!("/gateway/{b}/echo"),
            Some(alice),
            vec![],
        )
        .await;
        assert_eq!(status, 200, "{seen}");
        let claims = claims_of(
            seen["authorization"]
                .as_str()
                .unwrap()
                .strip_prefix("Bearer ")
                .unwrap(),
        );
        assert_eq!(claims["sub"], claims_of(alice)["sub"]);
        assert_eq!(claims["username"], "alice");
        assert_eq!(claims["act"]["sub"], a.0.as_str());

        // Bodies stream through, beyond the hub's usual 64 KiB, up to the gateway's limit.
        let (status, seen) = call(
            &hub,
            reqwest::Method::POST,
            &format!("/gateway/{b}/echo"),
            Some(&a_token),
            vec![7; 300_000],
        )
        .await;
        assert_eq!(status, 200, "{seen}");
        assert_eq!(seen["body_len"], 300_000);
        let (status, body) = call(
            &hub,
            reqwest::Method::PUT,
            &format!("/gateway/{b}/echo"),
            Some(&a_token),
            vec![7; 2 * 1024 * 1024],
        )
        .await;
        assert_eq!(status, 413, "{body}");
        // A client waiting for `100 Continue` is refused before it sends the body.
        let address = hub.base.trim_start_matches("http://");
        let head = format!(
            "PUT /gateway/{b}/echo HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {a_token}\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            3 * 1024 * 1024
        );
        let answer = raw_request(&hub, &head).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        // A body whose chunked framing is broken is the caller's fault (400), not the
        // target's (it used to be a 502 blaming the target).
        let broken = format!(
            "PUT /gateway/{b}/echo HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {a_token}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\nzz\r\n"
        );
        let answer = raw_request(&hub, &broken).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("chunked"), "{answer}");
        // An upload slower than the response timeout (1 s here) is not the target's delay.
        let answer = slow_put(&hub, &format!("/gateway/{b}/echo"), &a_token).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\"body_len\":98304"), "{answer}");
        // A target that stops sending its answer's body is given up on (the caller sees the
        // stream cut off, not a hang).
        let stalled = http()
            .get(hub.url(&format!("/gateway/{b}/stall")))
            .bearer_auth(&a_token)
            .send()
            .await
            .unwrap();
        assert_eq!(stalled.status(), 200);
        let cut = tokio::time::timeout(Duration::from_secs(10), stalled.bytes()).await;
        assert!(matches!(cut, Ok(Err(_))), "{cut:?}");

        // Refusals and failures, each a problem naming its cause.
        let dead = hub.client(&["client_credentials"], "x", &[]).await;
        let cases = [
            (format!("/gateway/{b}/echo"), None, 401, ""),
            // No such client, a client without a rule (and without an API), a name shared by
            // clients none of which A may call (the harness names every client "test
            // client"): one refusal, so that A cannot map the hub's other clients.
            (
                "/gateway/nobody/echo".to_string(),
                Some(&a_token),
                403,
                "no client \"nobody\" that this client may call",
            ),
            (
                format!("/gateway/{}/echo", dead.0),
                Some(&a_token),
                403,
                "that this client may call",
            ),
            (
                "/gateway/test%20client/echo".to_string(),
                Some(&a_token),
                403,
                "no client \"test client\" that this client may call",
            ),
            (
                format!("/gateway/{b}/redirect"),
                Some(&a_token),
                502,
                "redirect",
            ),
            (
                format!("/gateway/{b}/slow"),
                Some(&a_token),
                504,
                "did not answer",
            ),
            (format!("/gateway/{b}/huge"), Some(&a_token), 502, "limit"),
        ];
        let trace = http()
            .request(
                reqwest::Method::TRACE,
                hub.url(&format!("/gateway/{b}/echo")),
            )
            .bearer_auth(&a_token)
            .send()
            .await
            .unwrap();
        assert_eq!(trace.status(), 405, "TRACE would echo the minted token");
        let raw = raw_get(&hub, &format!("/gateway/{b}/..%2fadmin"), &a_token).await;
        assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
        for (path, token, want, cause) in cases {
            let (status, body) =
                call(&hub, get.clone(), &path, token.map(String::as_str), vec![]).await;
            assert_eq!(status, want, "{path}: {body}");
            if !cause.is_empty() {
                assert!(
                    body["detail"].as_str().unwrap_or_default().contains(cause),
                    "{path}: {body}"
                );
            }
        }
        // Encoded line breaks in the path stay encoded: no header can be smuggled upstream.
        let (status, seen) = call(
            &hub,
            get.clone(),
            &format!("/gateway/{b}/echo/a%0d%0aX-Injected:%201?q=%0d%0aX-Also:%201"),
            Some(&a_token),
            vec![],
        )
        .await;
        assert_eq!(status, 200, "{seen}");
        assert_eq!(seen["path"], "/api/echo/a%0d%0aX-Injected:%201", "{seen}");
        assert_eq!(seen["query"], "q=%0d%0aX-Also:%201", "{seen}");

        // A name shared by clients: it names the one A may call; two A may call are 409.
        let twin = |n: u8| keyway_auth::NewClient {
            name: "twin".into(),
            grant_types: vec!["client_credentials".into()],
            scope: "x".into(),
            policy: ClientPolicy {
                // Beside B's API URL, not under it (`{api}/api`).
                api_url: Some(format!("{api}/twins/twin{n}")),
                ..ClientPolicy::default()
            },
            ..keyway_auth::NewClient::default()
        };
        // Registers twin `n`, which A may call when `callable`.
        let add_twin = |n: u8, callable: bool| {
            let auth = hub.auth.clone();
            let (from, new) = (a.0.clone(), twin(n));
            async move {
                let client = auth.create_client(new).await.unwrap().client;
                if callable {
                    let purpose = RulePurpose::Call;
                    auth.allow_client(&from, &client.client_id, purpose, None)
                        .await
                        .unwrap();
                }
                client
            }
        };
        let first = add_twin(1, true).await;
        add_twin(2, false).await;
        let (status, seen) =
            call(&hub, get.clone(), "/gateway/twin/x", Some(&a_token), vec![]).await;
        assert_eq!(status, 200, "{seen}");
        assert_eq!(seen["path"], "/twins/twin1/x");
        let second = add_twin(3, true).await;
        let (status, body) =
            call(&hub, get.clone(), "/gateway/twin/x", Some(&a_token), vec![]).await;
        assert_eq!(status, 409, "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("2 clients this client may call are named \"twin\"")
                && detail.contains(&first.client_id)
                && detail.contains(&second.client_id),
            "{detail}"
        );

        // A `..` segment (sent raw: HTTP clients remove them) may not leave the API URL.
        let raw = raw_get(&hub, &format!("/gateway/{b}/%2e%2e/admin"), &a_token).await;
        assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
        assert!(raw.contains("leaves"), "{raw}");

        // A target that answers garbage.
        let garbage = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let garbage_url = format!("http://{}/api", garbage.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = garbage.accept().await {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(b"SSH-2.0-not-http\r\n\r\n").await;
            }
        });
        // A target that switches protocols unasked.
        let switching = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let switching_url = format!("http://{}/api", switching.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = switching.accept().await {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n")
                    .await;
            }
        });
        for (api_url, cause) in [
            (garbage_url, "did not answer with HTTP"),
            (switching_url, "answered 101"),
            // A target that is down.
            ("http://127.0.0.1:9/api".to_string(), "cannot connect"),
        ] {
            hub.auth
                .update_client(
                    &b,
                    keyway_auth::ClientUpdate {
                        api_url: Some(Some(api_url)),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            hub.clock.advance_ms(1_100);
            let path = format!("/gateway/{b}/echo");
            let (status, body) = call(&hub, get.clone(), &path, Some(&a_token), vec![]).await;
            assert_eq!(status, 502, "{body}");
            assert!(body["detail"].as_str().unwrap().contains(cause), "{body}");
        }

        // Every call is an edge caller -> target on the activity map.
        let (reader, reader_secret) = hub
            .client(&["client_credentials"], "activity:read", &[])
            .await;
        let reader = client_credentials_token(&hub, &reader, &reader_secret).await;
        let map = crate::activity::edges(&hub, &reader).await;
        let edge = crate::activity::edge(&map, &a.0, &b).expect("an edge shop -> orders");
        assert!(edge["calls"].as_u64().unwrap() >= 5, "{edge}");

        hub.auth.flush_audit().await;
        let log = hub.auth.audit_events(0, 0, 1000).await.unwrap();
        let gateway: Vec<_> = log.iter().filter(|e| e.entry.action == "gateway").collect();
        assert!(gateway.iter().any(|e| e.entry.outcome == "refused"
            && e.entry.reason.as_deref().unwrap().contains("no rule")));
        assert!(
            gateway.iter().any(|e| e.entry.outcome == "allowed"
                && e.entry
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("GET /echo/v1/orders -> 200")),
            "{gateway:#?}"
        );

        // Identical decisions gathered together are one entry with their count.
        let path = format!("/gateway/{b}/again");
        for _ in 0..5 {
            let (status, body) = call(&hub, get.clone(), &path, Some(&a_token), vec![]).await;
            assert_eq!(status, 502, "{body}");
        }
        hub.auth.flush_audit().await;
        let log = hub.auth.audit_events(0, 0, 1000).await.unwrap();
        let again: Vec<_> = log
            .iter()
            .filter(|e| {
                e.entry
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("GET /again -> 502"))
            })
            .collect();
        let calls: i64 = again.iter().map(|e| e.entry.occurrences).sum();
        assert_eq!(calls, 5, "{again:#?}");
        assert!(again.len() < 5, "not gathered: {again:#?}");
        hub.finish().await;
    }
}

/// A GET written on the socket as is (no client-side path normalisation): the raw answer.
async fn raw_get(hub: &TestHub, path: &str, token: &str) -> String {
    let address = hub.base.trim_start_matches("http://");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    raw_request(hub, &request).await
}

/// A PUT of 96 KiB sent in six parts 300 ms apart: the raw answer.
async fn slow_put(hub: &TestHub, path: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = hub.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        6 * 16 * 1024
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        socket.write_all(&[b'x'; 16 * 1024]).await.unwrap();
    }
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// `request` written on the socket as is: the raw answer, read until the hub closes.
async fn raw_request(hub: &TestHub, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = hub.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}
