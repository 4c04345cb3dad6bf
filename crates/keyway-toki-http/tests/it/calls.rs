//! Round trips, refusals, tampering, replay, skew, expiry and concurrency over real HTTP.

use std::sync::Arc;

use keyway_toki::{ManualClock, TokiConfig, TokiError};
use keyway_toki_http::{HELLO_PATH, TokiHttpError};

use crate::harness::*;

struct Fixture {
    base: String,
    layer: keyway_toki_http::TokiLayer,
    server_clock: Arc<ManualClock>,
    client_clock: Arc<ManualClock>,
    client: keyway_toki_http::TokiClient,
}

async fn fixture(config: TokiConfig) -> Fixture {
    let server_clock = Arc::new(ManualClock::new(now_ms()));
    let client_clock = Arc::new(ManualClock::new(now_ms()));
    let (base, layer) = start_server(server_clock.clone()).await;
    let client = client(client_clock.clone(), config);
    Fixture {
        base,
        layer,
        server_clock,
        client_clock,
        client,
    }
}

async fn post_echo(
    client: &keyway_toki_http::TokiClient,
    base: &str,
    body: &str,
) -> Result<keyway_toki_http::TokiResponse, TokiHttpError> {
    client
        .send(
            client
                .http()
                .post(format!("{base}/v1/echo?x=1"))
                .body(body.to_owned()),
        )
        .await
}

fn refused_with(
    result: Result<keyway_toki_http::TokiResponse, TokiHttpError>,
) -> (u16, Option<TokiError>) {
    match result {
        Err(TokiHttpError::Refused { status, error }) => (status, error),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn rejected_with(result: Result<keyway_toki_http::TokiResponse, TokiHttpError>) -> TokiError {
    match result {
        Err(TokiHttpError::ResponseRejected(error)) => error,
        other => panic!("expected a rejected response, got {other:?}"),
    }
}

#[tokio::test]
async fn round_trip_hands_the_caller_to_handlers_and_signs_answers() {
    let f = fixture(TokiConfig::default()).await;
    let answer = post_echo(&f.client, &f.base, "{\"amount\":100}")
        .await
        .unwrap();
    assert_eq!(answer.status, 201);
    assert_eq!(answer.text(), "echo:{\"amount\":100}");
    let whoami = f
        .client
        .send(f.client.http().get(format!("{}/v1/whoami", f.base)))
        .await
        .unwrap();
    assert_eq!(whoami.text(), "orders");
    // HEAD: the answer carries no body, and its toki binds the empty body.
    let head = f
        .client
        .send(f.client.http().head(format!("{}/v1/whoami", f.base)))
        .await
        .unwrap();
    assert_eq!((head.status.as_u16(), head.body.len()), (200, 0));
    assert_eq!(f.layer.session_count(), 1, "one handshake for both calls");
}

#[tokio::test]
async fn unauthorised_routes_get_a_signed_403() {
    let f = fixture(TokiConfig::default()).await;
    let answer = f
        .client
        .send(f.client.http().get(format!("{}/admin", f.base)))
        .await
        .unwrap();
    assert_eq!(answer.status, 403);
    assert!(!answer.text().contains("secret"));
}

#[tokio::test]
async fn missing_and_garbage_tokens_get_401_naming_the_problem() {
    let f = fixture(TokiConfig::default()).await;
    let plain = reqwest::Client::new();
    for (header, code) in [
        (None, "missing_token"),
        (Some("garbage"), "malformed"),
        (Some("v2.a.b.c.d.e.f"), "unsupported_version"),
        (
            Some("v1.AAAAAAAAAAAAAAAAAAAAAA.0.1.1.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "unknown_session",
        ),
    ] {
        let mut request = plain.post(format!("{}/v1/echo", f.base)).body("x");
        if let Some(header) = header {
            request = request.header("oscartoki", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{code}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with(&format!("Toki error=\"{code}\"")),
            "{challenge}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let hello = format!("{}{HELLO_PATH}", f.base);
    assert_eq!(plain.get(&hello).send().await.unwrap().status(), 405);
    // Garbage, a hello claiming `orders` signed by another key, one for another callee.
    let entropy = keyway_toki::SystemEntropy::default();
    let impostor = keyway_toki::TokiKeyPair::from_seed(&[7; 32]).unwrap();
    let forged =
        keyway_toki::PendingHello::new(&impostor, id("orders"), id("ledger"), now_ms(), &entropy)
            .unwrap();
    let orders = keyway_toki::TokiKeyPair::from_seed(&KEYS.orders).unwrap();
    let misaddressed =
        keyway_toki::PendingHello::new(&orders, id("orders"), id("billing"), now_ms(), &entropy)
            .unwrap();
    for (body, code) in [
        (vec![1u8, 2, 3], "malformed"),
        (forged.wire().to_vec(), "bad_signature"),
        (misaddressed.wire().to_vec(), "wrong_callee"),
    ] {
        let bad = plain.post(&hello).body(body).send().await.unwrap();
        assert_eq!(bad.status(), 401);
        let challenge = bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains(&format!("error=\"{code}\"")),
            "{challenge}"
        );
    }
    assert_eq!(f.layer.session_count(), 0);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let f = fixture(TokiConfig::default()).await;
    let big = "x".repeat(BODY_LIMIT + 1);
    assert_eq!(
        refused_with(post_echo(&f.client, &f.base, &big).await),
        (413, None)
    );
    // The session is still good afterwards.
    assert!(post_echo(&f.client, &f.base, "ok").await.is_ok());
}

#[tokio::test]
async fn one_altered_byte_in_the_request_or_response_is_caught() {
    let f = fixture(TokiConfig::default()).await;
    let proxy = start_proxy(&f.base).await;
    assert!(
        post_echo(&f.client, &proxy.base, "{\"amount\":100}")
            .await
            .is_ok()
    );

    *proxy.tamper.lock().unwrap() = Tamper::RequestBody;
    let refused = refused_with(post_echo(&f.client, &proxy.base, "{\"amount\":100}").await);
    assert_eq!(refused, (401, Some(TokiError::BadMac)));

    *proxy.tamper.lock().unwrap() = Tamper::ResponseBody;
    let rejected = rejected_with(post_echo(&f.client, &proxy.base, "{\"amount\":100}").await);
    assert_eq!(rejected, TokiError::BadMac);

    *proxy.tamper.lock().unwrap() = Tamper::StripResponseToki;
    let rejected = rejected_with(post_echo(&f.client, &proxy.base, "x").await);
    assert_eq!(rejected, TokiError::MissingToken);

    *proxy.tamper.lock().unwrap() = Tamper::ForgeResponseToki;
    let rejected = rejected_with(post_echo(&f.client, &proxy.base, "x").await);
    assert_eq!(rejected, TokiError::BadMac);

    *proxy.tamper.lock().unwrap() = Tamper::Nothing;
    assert!(post_echo(&f.client, &proxy.base, "x").await.is_ok());
}

#[tokio::test]
async fn a_replayed_request_is_refused() {
    let f = fixture(TokiConfig::default()).await;
    let proxy = start_proxy(&f.base).await;
    assert!(post_echo(&f.client, &proxy.base, "pay 100").await.is_ok());
    let captured = proxy.last_request.lock().unwrap().clone();
    let head = send_raw(&f.base, &captured).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(head.contains("error=\"replayed\""), "{head}");
}

#[tokio::test]
async fn stale_and_future_tokens_are_refused() {
    let f = fixture(TokiConfig::default()).await;
    assert!(post_echo(&f.client, &f.base, "x").await.is_ok());
    f.server_clock.advance(30_001);
    let refused = refused_with(post_echo(&f.client, &f.base, "x").await);
    assert_eq!(refused, (401, Some(TokiError::TokenStale)));
    f.server_clock.advance(-60_002);
    let refused = refused_with(post_echo(&f.client, &f.base, "x").await);
    assert_eq!(refused, (401, Some(TokiError::TokenFromFuture)));
    f.server_clock.advance(30_001);
    assert!(post_echo(&f.client, &f.base, "x").await.is_ok());
}

#[tokio::test]
async fn expired_sessions_are_reopened_transparently() {
    let f = fixture(TokiConfig::default()).await;
    assert!(post_echo(&f.client, &f.base, "x").await.is_ok());
    let hour = TokiConfig::default().session_lifetime_ms;
    // The client notices first.
    f.client_clock.advance(hour);
    f.server_clock.advance(hour);
    assert!(post_echo(&f.client, &f.base, "x").await.is_ok());
    assert_eq!(f.layer.session_count(), 2);
    // The callee notices first (its clock is ahead, within the skew): 401 session_expired,
    // then a new hello and one retry.
    f.server_clock.advance(hour - 10_000);
    f.client_clock.advance(hour - 20_000);
    assert!(post_echo(&f.client, &f.base, "x").await.is_ok());
}

#[tokio::test]
async fn a_restarted_callee_gets_a_new_hello() {
    let f = fixture(TokiConfig::default()).await;
    assert!(post_echo(&f.client, &f.base, "x").await.is_ok());
    let (restarted, layer) = start_server(f.server_clock.clone()).await;
    assert!(post_echo(&f.client, &restarted, "x").await.is_ok());
    assert_eq!(layer.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_ratcheting_session() {
    // 640 calls, a ratchet due every 10 while 32 calls are in flight: each side keeps one
    // previous epoch, so the client holds a ratchet back until no call of the previous epoch
    // is in flight (else a slow call would fail with `UnknownEpoch`).
    let config = TokiConfig {
        ratchet_every: 10,
        ..TokiConfig::default()
    };
    let f = fixture(config).await;
    let tasks: Vec<_> = (0..32)
        .map(|task| {
            let (client, base) = (f.client.clone(), f.base.clone());
            tokio::spawn(async move {
                for call in 0..20 {
                    let body = format!("{task}-{call}");
                    let answer = post_echo(&client, &base, &body).await.unwrap();
                    assert_eq!(answer.text(), format!("echo:{body}"));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(f.layer.session_count(), 1);
    assert!(f.client.session_epoch().unwrap() >= 3, "the keys ratcheted");
}
