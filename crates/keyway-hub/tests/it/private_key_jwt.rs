//! RFC 7523 client authentication with a signed assertion, and its replay check.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyway_auth::NewClient;
use serde_json::json;

use crate::harness::{TestHub, on_every_backend, post_form};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct KeyClient {
    id: String,
    pair: Ed25519KeyPair,
}

async fn register(hub: &TestHub) -> KeyClient {
    let pair = Ed25519KeyPair::generate().unwrap();
    let jwks = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    }]});
    let id = hub
        .auth
        .create_client(NewClient {
            name: "signer".into(),
            grant_types: vec!["client_credentials".into()],
            scope: "read".into(),
            jwks: Some(jwks.to_string()),
            ..NewClient::default()
        })
        .await
        .unwrap()
        .client
        .client_id;
    KeyClient { id, pair }
}

fn assertion(client: &KeyClient, header: serde_json::Value, claims: serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = client.pair.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

fn claims(hub: &TestHub, client: &KeyClient, jti: &str, exp_in: i64) -> serde_json::Value {
    let now = hub.auth.clock().now_secs();
    json!({
        "iss": client.id, "sub": client.id, "aud": hub.url("/oauth2/token"),
        "jti": jti, "iat": now, "exp": now + exp_in,
    })
}

async fn token_with(hub: &TestHub, jwt: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = post_form(
        &hub.url("/oauth2/token"),
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", jwt),
        ],
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn signed_assertions_authenticate_once() {
    on_every_backend(async |hub: &TestHub| {
        let client = register(hub).await;
        let header = json!({"alg": "EdDSA", "kid": "k1", "typ": "JWT"});
        let jwt = assertion(&client, header.clone(), claims(hub, &client, "jti-1", 60));
        let (status, body) = token_with(hub, &jwt).await;
        assert_eq!(status, 200, "{body}");
        // The same assertion again is a replay.
        let (status, body) = token_with(hub, &jwt).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("replay")
        );
    })
    .await;
}

/// RFC 9864 names Ed25519 signatures `Ed25519` (and deprecates `EdDSA`); openid-client signs
/// that way by default. Both name the same key; errors say why a key was not used.
#[tokio::test]
async fn the_fully_specified_ed25519_alg_is_accepted_and_refusals_say_why() {
    on_every_backend(async |hub: &TestHub| {
        let client = register(hub).await;
        let header = json!({"alg": "Ed25519", "kid": "k1", "typ": "JWT"});
        let jwt = assertion(&client, header, claims(hub, &client, "ed-1", 60));
        let (status, body) = token_with(hub, &jwt).await;
        assert_eq!(status, 200, "{body}");
        let jwt = assertion(
            &client,
            json!({"alg": "ES256", "kid": "k1"}),
            claims(hub, &client, "ed-2", 60),
        );
        let (_, body) = token_with(hub, &jwt).await;
        let why = body["error_description"].as_str().unwrap();
        assert!(
            why.contains("does not match") && why.contains("EdDSA"),
            "{why}"
        );
        let jwt = assertion(
            &client,
            json!({"alg": "Ed25519", "kid": "nope"}),
            claims(hub, &client, "ed-3", 60),
        );
        let (_, body) = token_with(hub, &jwt).await;
        let why = body["error_description"].as_str().unwrap();
        assert!(why.contains("no registered key has kid \"nope\""), "{why}");
    })
    .await;
}

#[tokio::test]
async fn bad_assertions_are_refused() {
    on_every_backend(async |hub: &TestHub| {
        let client = register(hub).await;
        let header = json!({"alg": "EdDSA", "kid": "k1"});
        let mut wrong_aud = claims(hub, &client, "a", 60);
        wrong_aud["aud"] = json!("https://elsewhere.example/token");
        let mut wrong_iss = claims(hub, &client, "b", 60);
        wrong_iss["iss"] = json!("someone-else");
        let mut no_jti = claims(hub, &client, "c", 60);
        no_jti.as_object_mut().unwrap().remove("jti");
        let cases = [
            (
                "wrong audience",
                assertion(&client, header.clone(), wrong_aud),
            ),
            (
                "iss differs from sub",
                assertion(&client, header.clone(), wrong_iss),
            ),
            ("no jti", assertion(&client, header.clone(), no_jti)),
            (
                "expired",
                assertion(&client, header.clone(), claims(hub, &client, "d", -120)),
            ),
            (
                "lives too long",
                assertion(&client, header.clone(), claims(hub, &client, "e", 86_400)),
            ),
            (
                "alg the key was not made for",
                assertion(
                    &client,
                    json!({"alg": "ES256", "kid": "k1"}),
                    claims(hub, &client, "f", 60),
                ),
            ),
            (
                "a critical extension it does not understand (RFC 7515 §4.1.11)",
                assertion(
                    &client,
                    json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp"], "exp": 1}),
                    claims(hub, &client, "h", 60),
                ),
            ),
            ("alg none", {
                let c = claims(hub, &client, "g", 60);
                format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(json!({"alg":"none"}).to_string()),
                    URL_SAFE_NO_PAD.encode(c.to_string())
                )
            }),
        ];
        for (what, jwt) in cases {
            let (status, body) = token_with(hub, &jwt).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (401, Some("invalid_client")),
                "{what}: {body}"
            );
        }
        // A secret-style request for this client is refused too.
        let (status, _, _) = post_form(
            &hub.url("/oauth2/token"),
            Some((&client.id, "guess")),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(status, 401);
    })
    .await;
}

/// A client that publishes its keys at a `jwks_uri`; rotating them there is picked up.
#[tokio::test]
async fn keys_from_a_jwks_uri_and_their_rotation() {
    use std::sync::{Arc, Mutex};
    on_every_backend(async |hub: &TestHub| {
        let first = Ed25519KeyPair::generate().unwrap();
        let jwk = |pair: &Ed25519KeyPair, kid: &str| {
            json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())})
        };
        let published = Arc::new(Mutex::new(json!({"keys": [jwk(&first, "one")]})));
        let served = published.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let served = served.clone();
                async move { axum::Json(served.lock().unwrap().clone()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let id = hub
            .auth
            .create_client(NewClient {
                name: "remote keys".into(),
                grant_types: vec!["client_credentials".into()],
                scope: "read".into(),
                jwks_uri: Some(jwks_uri),
                ..NewClient::default()
            })
            .await
            .unwrap()
            .client
            .client_id;
        let client = KeyClient { id: id.clone(), pair: first };
        let jwt = assertion(&client, json!({"alg": "EdDSA", "kid": "one"}), claims(hub, &client, "r1", 60));
        let (status, body) = token_with(hub, &jwt).await;
        assert_eq!(status, 200, "{body}");

        // The client rotates to a new key at its URI; after the refetch gap the hub follows.
        let second = Ed25519KeyPair::generate().unwrap();
        *published.lock().unwrap() = json!({"keys": [jwk(&second, "two")]});
        let rotated = KeyClient { id, pair: second };
        hub.clock.advance_secs(31);
        let jwt = assertion(&rotated, json!({"alg": "EdDSA", "kid": "two"}), claims(hub, &rotated, "r2", 60));
        let (status, body) = token_with(hub, &jwt).await;
        assert_eq!(status, 200, "{body}");
        server.abort();
    })
    .await;
}
