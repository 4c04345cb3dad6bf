//! Signed authorization requests (JAR, RFC 9101): a `request` JWT signed with a key the
//! client registered, by value or pushed (RFC 9126).

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyway_auth::{ClientPolicy, NewClient};
use serde_json::{Value, json};

use crate::browser::{Browser, log_in_and_allow, pkce};
use crate::harness::{Backend, TestHub, on_every_backend, post_form};

const REDIRECT: &str = "http://127.0.0.1:9/cb";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Signer {
    id: String,
    pair: Ed25519KeyPair,
}

async fn register(hub: &TestHub, policy: ClientPolicy) -> Signer {
    let pair = Ed25519KeyPair::generate().unwrap();
    let jwks = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "k1",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    }]});
    let id = hub
        .auth
        .create_client(NewClient {
            name: "signed requests".into(),
            grant_types: vec!["authorization_code".into()],
            scope: "openid".into(),
            redirect_uris: vec![REDIRECT.into()],
            jwks: Some(jwks.to_string()),
            policy,
            ..NewClient::default()
        })
        .await
        .unwrap()
        .client
        .client_id;
    Signer { id, pair }
}

fn sign(signer: &Signer, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer.pair.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// The claims of a code request from `signer` with PKCE `challenge`.
fn request_claims(hub: &TestHub, signer: &Signer, challenge: &str, jti: &str) -> Value {
    let now = hub.auth.clock().now_secs();
    json!({
        "iss": signer.id, "aud": hub.base, "exp": now + 300, "iat": now, "jti": jti,
        "client_id": signer.id, "response_type": "code", "redirect_uri": REDIRECT,
        "scope": "openid", "state": "signed-state", "nonce": "n-1",
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
}

fn authorize_with_request(hub: &TestHub, client_id: &str, jwt: &str, extra: &str) -> String {
    let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request", jwt);
    format!("{url}{extra}")
}

/// POSTs the request object `jwt` to /oauth2/par, the client authenticated by an assertion
/// with `jti` that expires at `exp`.
async fn push_signed(
    hub: &TestHub,
    signer: &Signer,
    jti: &str,
    exp: i64,
    jwt: &str,
) -> (u16, Value) {
    let now = hub.auth.clock().now_secs();
    let assertion = sign(
        signer,
        &json!({"alg": "Ed25519", "kid": "k1"}),
        &json!({"iss": signer.id, "sub": signer.id, "aud": hub.base, "jti": jti,
                "iat": now, "exp": exp}),
    );
    let (status, _, answer) = post_form(
        &hub.url("/oauth2/par"),
        None,
        &[
            ("client_id", signer.id.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
            ("request", jwt),
        ],
    )
    .await;
    (status, answer)
}

fn ed_header() -> Value {
    json!({"alg": "Ed25519", "kid": "k1", "typ": "oauth-authz-req+jwt"})
}

#[tokio::test]
async fn a_signed_request_by_value_yields_a_code_once() {
    on_every_backend(async |hub: &TestHub| {
        let signer = register(hub, ClientPolicy::default()).await;
        hub.user("alice", "correct horse battery").await;
        let (verifier, challenge) = pkce();
        let jwt = sign(
            &signer,
            &ed_header(),
            &request_claims(hub, &signer, &challenge, "r-1"),
        );
        // Parameters outside the object are ignored (the state comes from inside).
        let url = authorize_with_request(hub, &signer.id, &jwt, "&state=outside&scope=evil");
        let mut browser = Browser::new();
        let done =
            log_in_and_allow(&mut browser, hub, &url, "alice", "correct horse battery").await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(
            done.redirect_param("state").as_deref(),
            Some("signed-state")
        );
        let code = done.redirect_param("code").unwrap();
        let now = hub.auth.clock().now_secs();
        let assertion = sign(
            &signer,
            &json!({"alg": "Ed25519", "kid": "k1"}),
            &json!({"iss": signer.id, "sub": signer.id, "aud": hub.url("/oauth2/token"),
                    "jti": "exchange", "iat": now, "exp": now + 60}),
        );
        let (status, _, tokens) = post_form(
            &hub.url("/oauth2/token"),
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ],
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        assert!(tokens["id_token"].is_string());

        // The same request object again: its jti is spent.
        let replay = Browser::new().get(&url).await;
        assert_eq!(replay.status, 400, "{}", replay.body);
        assert!(
            replay.body.contains("invalid_request_object"),
            "{}",
            replay.body
        );
    })
    .await;
}

#[tokio::test]
async fn bad_request_objects_are_refused_and_change_nothing() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    let signer = register(&hub, ClientPolicy::default()).await;
    let (_, challenge) = pkce();
    let other = Signer {
        id: signer.id.clone(),
        pair: Ed25519KeyPair::generate().unwrap(),
    };
    let now = hub.auth.clock().now_secs();
    let claims = |jti: &str| request_claims(&hub, &signer, &challenge, jti);
    let with = |jti: &str, name: &str, value: Value| {
        let mut c = claims(jti);
        c[name] = value;
        c
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims("none").to_string())
    );
    let cases = [
        (unsigned, "alg none"),
        (
            sign(&other, &ed_header(), &claims("other-key")),
            "does not verify",
        ),
        (
            sign(&signer, &json!({"alg": "HS256"}), &claims("hs")),
            "HMAC",
        ),
        (
            sign(
                &signer,
                &ed_header(),
                &with("aud", "aud", json!("https://elsewhere.example")),
            ),
            "aud must name",
        ),
        (
            sign(
                &signer,
                &ed_header(),
                &with("iss", "iss", json!("someone-else")),
            ),
            "iss must be",
        ),
        (
            sign(&signer, &ed_header(), &with("exp", "exp", json!(now - 100))),
            "expired",
        ),
        (
            sign(
                &signer,
                &ed_header(),
                &with("long", "exp", json!(now + 7200)),
            ),
            "lives longer",
        ),
        (
            sign(
                &signer,
                &ed_header(),
                &with("cid", "client_id", json!("another")),
            ),
            "client_id differs",
        ),
        (
            sign(&signer, &ed_header(), &{
                let mut c = claims("x");
                c.as_object_mut().unwrap().remove("jti");
                c
            }),
            "jti is required",
        ),
        (
            sign(
                &signer,
                &json!({"alg": "Ed25519", "kid": "k1", "crit": ["b64"]}),
                &claims("crit"),
            ),
            "crit",
        ),
        (
            sign(&signer, &ed_header(), &with("max", "exp", json!(i64::MAX))),
            "lives longer",
        ),
        (
            sign(
                &signer,
                &ed_header(),
                &with("nbf", "nbf", json!("9999999999")),
            ),
            "NumericDate",
        ),
        (
            sign(
                &signer,
                &ed_header(),
                &with("nested", "request", json!("a.b.c")),
            ),
            "may not hold",
        ),
    ];
    for (jwt, expected) in cases {
        let page = Browser::new()
            .get(&authorize_with_request(&hub, &signer.id, &jwt, ""))
            .await;
        assert_eq!(page.status, 400, "{expected}: {}", page.body);
        assert!(
            page.body.contains("invalid_request_object") && page.body.contains(expected),
            "{expected}: {}",
            page.body
        );
    }
    assert_eq!(hub.count_rows("authorization_requests").await, 0);
    // request and request_uri together.
    let jwt = sign(&signer, &ed_header(), &claims("both"));
    let both = format!(
        "{}&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax",
        authorize_with_request(&hub, &signer.id, &jwt, "")
    );
    let page = Browser::new().get(&both).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("not both"), "{}", page.body);
    hub.finish().await;
}

/// A request object pushed (PAR with `request`), and a client that must sign its requests.
#[tokio::test]
async fn a_pushed_request_object_and_a_client_that_must_sign() {
    on_every_backend(async |hub: &TestHub| {
        let policy = ClientPolicy {
            require_signed_requests: true,
            ..ClientPolicy::default()
        };
        let signer = register(hub, policy).await;
        let (_, challenge) = pkce();
        let plain = crate::browser::authorize_url(hub, &signer.id, REDIRECT, "openid", &challenge);
        let refused = Browser::new().get(&plain).await;
        assert_eq!(refused.status, 400);
        assert!(
            refused.body.contains("must be signed request objects"),
            "{}",
            refused.body
        );

        // PAR with the object, the client authenticated by its assertion.
        let now = hub.auth.clock().now_secs();
        let jwt = sign(
            &signer,
            &ed_header(),
            &request_claims(hub, &signer, &challenge, "r-par"),
        );
        let (status, pushed) = push_signed(hub, &signer, "a-1", now + 60, &jwt).await;
        assert_eq!(status, 201, "{pushed}");
        let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", &signer.id)
            .append_pair("request_uri", pushed["request_uri"].as_str().unwrap());
        // Signed (pushed inside a request object): the login page, not a refusal.
        assert_eq!(Browser::new().get(url.as_str()).await.status, 200);
    })
    .await;
}

/// A request refused for another reason does not spend its request object's jti: the same
/// object, sent the right way, still works once.
#[tokio::test]
async fn a_refused_request_does_not_spend_its_jti() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    let policy = ClientPolicy {
        require_pushed_requests: true,
        ..ClientPolicy::default()
    };
    let signer = register(&hub, policy).await;
    let (_, challenge) = pkce();
    let jwt = sign(
        &signer,
        &ed_header(),
        &request_claims(&hub, &signer, &challenge, "once"),
    );
    // By value, but this client must push: refused, and nothing spent.
    let refused = Browser::new()
        .get(&authorize_with_request(&hub, &signer.id, &jwt, ""))
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("must be pushed"), "{}", refused.body);
    assert_eq!(hub.count_rows("client_assertions").await, 0);
    // A client assertion whose exp is the largest integer is refused, not a crash.
    let (status, answer) = push_signed(&hub, &signer, "a-max", i64::MAX, &jwt).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("invalid_client")),
        "{answer}"
    );
    let now = hub.auth.clock().now_secs();
    let (status, pushed) = push_signed(&hub, &signer, "a-2", now + 60, &jwt).await;
    assert_eq!(status, 201, "{pushed}");
    hub.finish().await;
}
