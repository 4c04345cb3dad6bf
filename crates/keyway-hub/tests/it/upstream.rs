//! Sign-in through upstream OpenID Connect providers (`type=<name>`): a fake provider (a small
//! axum server whose token endpoint answers with the ID token the test chose) for the bad
//! answers, and a second keyway hub as a real provider.

use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyway_auth::{Provision, SecretString, UpstreamProvider};
use serde_json::{Value, json};

use crate::browser::{Browser, Page, pkce};
use crate::harness::{Backend, TestHub, backends, code_exchange};

const REDIRECT: &str = "https://app.example/cb";

/// The fake provider: discovery, JWKS and a token endpoint answering with `id_token`.
struct FakeUpstream {
    issuer: String,
    key: Arc<Ed25519KeyPair>,
    /// What the token endpoint answers next (status, body).
    answer: Arc<Mutex<(u16, Value)>>,
    /// The Basic credentials and form of the last token request.
    seen: Arc<Mutex<Vec<String>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    async fn start() -> FakeUpstream {
        use axum::routing::{get, post};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let key = Arc::new(Ed25519KeyPair::generate().unwrap());
        let mut jwk = keyway_auth::jose::PublicJwk::ed25519(key.public_key().as_ref());
        jwk.kid = Some("fake-1".into());
        let jwks = json!({ "keys": [jwk] });
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "code_challenge_methods_supported": ["S256"],
        });
        let answer = Arc::new(Mutex::new((500u16, json!({}))));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (answer2, seen2) = (answer.clone(), seen.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move { axum::Json(discovery) }),
            )
            .route("/jwks", get(move || async move { axum::Json(jwks) }))
            .route(
                "/token",
                post(move |headers: axum::http::HeaderMap, body: String| {
                    let (answer, seen) = (answer2.clone(), seen2.clone());
                    async move {
                        let auth = headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default();
                        seen.lock().unwrap().push(format!("{auth}\n{body}"));
                        let (status, value) = answer.lock().unwrap().clone();
                        (
                            axum::http::StatusCode::from_u16(status).unwrap(),
                            axum::Json(value),
                        )
                    }
                }),
            );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeUpstream {
            issuer,
            key,
            answer,
            seen,
            _server: server,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "EdDSA", "kid": "fake-1", "typ": "JWT"});
        sign_with(&self.key, &header, claims)
    }

    /// Good claims for `nonce`, to spoil one at a time.
    fn claims(&self, nonce: &str, now: i64) -> Value {
        json!({"iss": self.issuer, "aud": "keyway-at-fake", "sub": "fake-sub-1",
            "exp": now + 300, "iat": now, "nonce": nonce, "preferred_username": "ada lovelace"})
    }

    fn answer_with(&self, id_token: &str) {
        *self.answer.lock().unwrap() = (
            200,
            json!({"access_token": "x", "token_type": "Bearer", "id_token": id_token}),
        );
    }

    fn provider(&self, dir: &std::path::Path, provision: Provision) -> UpstreamProvider {
        provider(
            "corp",
            &self.issuer,
            "keyway-at-fake",
            "fake secret",
            dir,
            provision,
        )
    }
}

fn sign_with(key: &Ed25519KeyPair, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn provider(
    name: &str,
    issuer: &str,
    client_id: &str,
    secret: &str,
    _dir: &std::path::Path,
    provision: Provision,
) -> UpstreamProvider {
    UpstreamProvider {
        name: name.into(),
        display_name: "Corp SSO".into(),
        issuer: issuer.into(),
        client_id: client_id.into(),
        client_secret: SecretString::new(secret.into()),
        scopes: "openid profile".into(),
        username_claim: "preferred_username".into(),
        provision,
    }
}

/// The claims of a JWT (no verification: the hub's own tests check its signatures).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn hub_with(backend: &Backend, upstreams: Vec<UpstreamProvider>) -> TestHub {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    TestHub::start_with_upstreams(backend, listener, upstreams).await
}

fn authorize(hub: &TestHub, client_id: &str, challenge: &str, login_type: Option<&str>) -> String {
    let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid")
        .append_pair("state", "app-state")
        .append_pair("nonce", "app-nonce")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(t) = login_type {
        url.query_pairs_mut().append_pair("type", t);
    }
    url.to_string()
}

/// A SQLite hub with one auto-provisioning fake upstream `corp` (and the directory of its
/// secret file, kept alive by the caller).
async fn sqlite_hub_with_fake() -> (FakeUpstream, tempfile::TempDir, TestHub) {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = hub_with(
        &Backend::Sqlite,
        vec![fake.provider(dir.path(), Provision::Auto)],
    )
    .await;
    (fake, dir, hub)
}

/// Starts an upstream sign-in with `type=corp`; returns the upstream authorize URL.
async fn start(browser: &mut Browser, hub: &TestHub, client_id: &str, challenge: &str) -> String {
    let page = browser
        .get(&authorize(hub, client_id, challenge, Some("corp")))
        .await;
    assert_eq!(page.status, 302, "{}", page.body);
    page.location.unwrap()
}

/// Hub A's callback, as the provider would send the browser back.
async fn callback(browser: &mut Browser, hub: &TestHub, query: &[(&str, &str)]) -> Page {
    let mut url = url::Url::parse(&hub.url("/login/upstream/callback")).unwrap();
    url.query_pairs_mut().extend_pairs(query);
    browser.get(url.as_str()).await
}

/// Consents if asked; returns the redirect to the client.
async fn allow(browser: &mut Browser, hub: &TestHub, page: Page) -> Page {
    if page.status == 303 {
        return page;
    }
    assert_eq!(page.status, 200, "{}", page.body);
    let request_id = page.field("request_id");
    let csrf = page.field("csrf");
    browser
        .post(
            &hub.url("/oauth2/consent"),
            &[
                ("request_id", &request_id),
                ("csrf", &csrf),
                ("decision", "allow"),
            ],
        )
        .await
}

async fn client(hub: &TestHub, login_types: &[&str]) -> (String, String) {
    hub.client_with_policy(
        &["authorization_code"],
        "openid",
        &[REDIRECT],
        keyway_auth::ClientPolicy {
            login_types: login_types.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        },
    )
    .await
}

#[tokio::test]
async fn a_fake_upstream_signs_a_person_in_and_provisions_them_once() {
    for backend in backends() {
        let fake = FakeUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = hub_with(&backend, vec![fake.provider(dir.path(), Provision::Auto)]).await;
        let (id, secret) = client(&hub, &[]).await;
        for round in 0..2 {
            let (verifier, challenge) = pkce();
            let mut browser = Browser::new();
            let upstream = start(&mut browser, &hub, &id, &challenge).await;
            assert!(upstream.starts_with(&format!("{}/authorize?", fake.issuer)));
            assert_eq!(
                query_param(&upstream, "code_challenge_method").as_deref(),
                Some("S256")
            );
            assert_eq!(
                query_param(&upstream, "redirect_uri").unwrap(),
                hub.url("/login/upstream/callback")
            );
            assert_eq!(query_param(&upstream, "prompt"), None);
            let nonce = query_param(&upstream, "nonce").unwrap();
            let state = query_param(&upstream, "state").unwrap();
            let now = hub.clock.now_ms() / 1000;
            fake.answer_with(&fake.sign(&fake.claims(&nonce, now)));
            let page = callback(&mut browser, &hub, &[("code", "c-1"), ("state", &state)]).await;
            let done = allow(&mut browser, &hub, page).await;
            assert_eq!(done.status, 303, "{}", done.body);
            assert_eq!(done.redirect_param("state").as_deref(), Some("app-state"));
            let code = done.redirect_param("code").unwrap();
            let (status, body) =
                code_exchange(&hub, (&id, &secret), &code, REDIRECT, &verifier).await;
            assert_eq!(status, 200, "{body}");
            let claims = claims_of(body["id_token"].as_str().unwrap());
            assert_eq!(claims["amr"], json!(["fed"]), "round {round}");
            assert_eq!(claims["idp"], "corp");
            assert_eq!(claims["nonce"], "app-nonce");
            assert_eq!(claims["preferred_username"], "ada_lovelace");
        }
        // client_secret_basic with the configured secret, PKCE verifier sent.
        let seen = fake.seen.lock().unwrap().clone();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("keyway-at-fake:fake+secret")
        );
        assert!(seen[0].starts_with(&basic), "{}", seen[0]);
        assert!(seen[0].contains("code_verifier="));
        assert_eq!(hub.count_rows("users").await, 1, "provisioned once");
        assert_eq!(hub.count_rows("upstream_identities").await, 1);
        hub.finish().await;
    }
}

use keyway_auth::Clock;

/// One bad answer: the page it gets, and proof that nobody was linked or provisioned.
async fn refused(
    hub: &TestHub,
    fake: &FakeUpstream,
    id: &str,
    spoil: impl FnOnce(&mut Value),
) -> Page {
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    let upstream = start(&mut browser, hub, id, &challenge).await;
    let nonce = query_param(&upstream, "nonce").unwrap();
    let state = query_param(&upstream, "state").unwrap();
    let mut claims = fake.claims(&nonce, hub.clock.now_ms() / 1000);
    spoil(&mut claims);
    fake.answer_with(&fake.sign(&claims));
    let page = callback(&mut browser, hub, &[("code", "c"), ("state", &state)]).await;
    assert_eq!(hub.count_rows("users").await, 0, "{}", page.body);
    assert_eq!(hub.count_rows("upstream_identities").await, 0);
    assert_eq!(hub.count_rows("login_sessions").await, 0);
    page
}

/// A change that spoils a good ID token's claims.
type Spoil = Box<dyn FnOnce(&mut Value)>;

#[tokio::test]
async fn bad_id_tokens_are_refused_naming_the_cause() {
    let (fake, _dir, hub) = sqlite_hub_with_fake().await;
    let (id, _) = client(&hub, &[]).await;
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "nonce is not the one",
            Box::new(|c| c["nonce"] = "other".into()),
        ),
        (
            "not meant for this hub",
            Box::new(|c| c["aud"] = "someone-else".into()),
        ),
        (
            "issuer is not the configured",
            Box::new(|c| c["iss"] = "http://127.0.0.1:1".into()),
        ),
        (
            "has expired",
            Box::new(|c| c["exp"] = (c["iat"].as_i64().unwrap() - 120).into()),
        ),
        (
            "issued in the future",
            Box::new(|c| c["iat"] = (c["iat"].as_i64().unwrap() + 600).into()),
        ),
        (
            "azp",
            Box::new(|c| c["aud"] = json!(["keyway-at-fake", "other"])),
        ),
    ];
    for (cause, spoil) in cases {
        let page = refused(&hub, &fake, &id, spoil).await;
        assert_eq!(page.status, 400, "{cause}: {}", page.body);
        assert!(page.body.contains(cause), "{cause}: {}", page.body);
        // The pending sign-in cookie is gone.
        assert!(
            page.cookie_attributes("keyway_upstream")
                .unwrap()
                .contains("Max-Age=0")
        );
    }
    // A signature by another key.
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    let upstream = start(&mut browser, &hub, &id, &challenge).await;
    let nonce = query_param(&upstream, "nonce").unwrap();
    let state = query_param(&upstream, "state").unwrap();
    let other = Ed25519KeyPair::generate().unwrap();
    let header = json!({"alg": "EdDSA", "kid": "fake-1"});
    fake.answer_with(&sign_with(
        &other,
        &header,
        &fake.claims(&nonce, hub.clock.now_ms() / 1000),
    ));
    let page = callback(&mut browser, &hub, &[("code", "c"), ("state", &state)]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("verifies the ID token"), "{}", page.body);
    // alg none.
    let upstream = start(&mut browser, &hub, &id, &challenge).await;
    let nonce = query_param(&upstream, "nonce").unwrap();
    let state = query_param(&upstream, "state").unwrap();
    let claims = fake.claims(&nonce, hub.clock.now_ms() / 1000);
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    fake.answer_with(&none);
    let page = callback(&mut browser, &hub, &[("code", "c"), ("state", &state)]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(hub.count_rows("users").await, 0);
    hub.finish().await;
}

#[tokio::test]
async fn state_is_single_use_and_bound_to_the_browser() {
    let (fake, _dir, hub) = sqlite_hub_with_fake().await;
    let (id, _) = client(&hub, &[]).await;
    let (_, challenge) = pkce();
    // The attacker starts a sign-in and hands the victim the callback URL (login CSRF): the
    // victim's browser has no (or another) pending sign-in, so nothing happens.
    let mut attacker = Browser::new();
    let upstream = start(&mut attacker, &hub, &id, &challenge).await;
    let state = query_param(&upstream, "state").unwrap();
    let nonce = query_param(&upstream, "nonce").unwrap();
    fake.answer_with(&fake.sign(&fake.claims(&nonce, hub.clock.now_ms() / 1000)));
    let mut victim = Browser::new();
    let page = callback(&mut victim, &hub, &[("code", "c"), ("state", &state)]).await;
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains("no sign-in through an upstream provider is pending"),
        "{}",
        page.body
    );
    // The victim has a sign-in of their own: the attacker's state does not match it.
    let _ = start(&mut victim, &hub, &id, &challenge).await;
    let page = callback(&mut victim, &hub, &[("code", "c"), ("state", &state)]).await;
    assert!(page.body.contains("state mismatch"), "{}", page.body);
    // Even the attacker's sealed cookie in the victim's browser is refused (bound to a browser).
    let sealed = attacker.cookie("keyway_upstream").unwrap().to_string();
    victim.set_cookie("keyway_upstream", &sealed);
    let page = callback(&mut victim, &hub, &[("code", "c"), ("state", &state)]).await;
    assert!(
        page.body
            .contains("no sign-in through an upstream provider is pending"),
        "{}",
        page.body
    );
    assert_eq!(hub.count_rows("users").await, 0);
    // The attacker's own callback works once; replaying it (cookie kept) is refused.
    let page = callback(&mut attacker, &hub, &[("code", "c"), ("state", &state)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    attacker.set_cookie("keyway_upstream", &sealed);
    let page = callback(&mut attacker, &hub, &[("code", "c"), ("state", &state)]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("already used"), "{}", page.body);
    // An expired pending sign-in.
    let mut late = Browser::new();
    let upstream = start(&mut late, &hub, &id, &challenge).await;
    let state = query_param(&upstream, "state").unwrap();
    hub.clock.advance_secs(601);
    let page = callback(&mut late, &hub, &[("code", "c"), ("state", &state)]).await;
    assert!(
        page.body
            .contains("no sign-in through an upstream provider is pending"),
        "{}",
        page.body
    );
    hub.finish().await;
}

#[tokio::test]
async fn upstream_errors_and_outages_are_shown_escaped() {
    let fake = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A provider nobody listens at (a closed port).
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down_issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let down = provider("down", &down_issuer, "x", "y", dir.path(), Provision::Auto);
    let hub = hub_with(
        &Backend::Sqlite,
        vec![fake.provider(dir.path(), Provision::Auto), down],
    )
    .await;
    let (id, _) = client(&hub, &[]).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    // access_denied, with markup and a long description.
    let upstream = start(&mut browser, &hub, &id, &challenge).await;
    let state = query_param(&upstream, "state").unwrap();
    let description = format!("<script>alert(1)</script>{}", "x".repeat(5000));
    let page = callback(
        &mut browser,
        &hub,
        &[
            ("error", "access_denied"),
            ("error_description", &description),
            ("state", &state),
        ],
    )
    .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains("Corp SSO did not sign you in (access_denied"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"), "escaped");
    assert!(page.body.len() < 4000, "truncated: {}", page.body.len());
    // The token endpoint refuses the code.
    let upstream = start(&mut browser, &hub, &id, &challenge).await;
    let state = query_param(&upstream, "state").unwrap();
    *fake.answer.lock().unwrap() = (400, json!({"error": "invalid_grant"}));
    let page = callback(&mut browser, &hub, &[("code", "c"), ("state", &state)]).await;
    assert!(
        page.body
            .contains("refused the sign-in code (HTTP 400, invalid_grant)"),
        "{}",
        page.body
    );
    // Discovery failing: the page says so, before the browser leaves.
    let page = browser
        .get(&authorize(&hub, &id, &challenge, Some("down")))
        .await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        page.body.contains("cannot be reached for sign-in"),
        "{}",
        page.body
    );
    assert!(page.body.contains("discovery failed"), "{}", page.body);
    // Remembered for a while: the next request does not knock again (same answer, no wait).
    let again = browser
        .get(&authorize(&hub, &id, &challenge, Some("down")))
        .await;
    assert_eq!(again.status, 503);
    assert!(again.body.contains("discovery failed"), "{}", again.body);
    assert_eq!(hub.count_rows("users").await, 0);
    hub.finish().await;
}

#[tokio::test]
async fn login_types_follow_the_client_and_the_configuration() {
    let (fake, _dir, hub) = sqlite_hub_with_fake().await;
    hub.user("alice", "correct horse battery").await;
    let (any, any_secret) = client(&hub, &[]).await;
    let (corp_only, _) = client(&hub, &["corp"]).await;
    let (password_only, _) = client(&hub, &["password"]).await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new();
    // The login page offers every allowed way.
    let page = browser.get(&authorize(&hub, &any, &challenge, None)).await;
    assert!(page.body.contains("name=\"password\"") && page.body.contains("Sign in with Corp SSO"));
    let page = browser
        .get(&authorize(&hub, &corp_only, &challenge, None))
        .await;
    assert!(
        !page.body.contains("name=\"password\"") && page.body.contains("Sign in with Corp SSO")
    );
    // …and the password form of a corp-only client is refused even when posted by hand.
    let request_id = page.field("request_id");
    let csrf = page.field("csrf");
    let posted = browser
        .post(
            &hub.url("/oauth2/login"),
            &[
                ("request_id", &request_id),
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(posted.status, 400, "{}", posted.body);
    assert_eq!(hub.count_rows("login_sessions").await, 0);
    let page = browser
        .get(&authorize(&hub, &password_only, &challenge, None))
        .await;
    assert!(page.body.contains("name=\"password\"") && !page.body.contains("Corp SSO"));
    // type= that is not allowed, or not configured: invalid_request back to the client.
    for (client_id, t, why) in [
        (&password_only, "corp", "not allowed for this client"),
        (&any, "nope", "not configured"),
        (&corp_only, "password", "not allowed for this client"),
    ] {
        let page = browser
            .get(&authorize(&hub, client_id, &challenge, Some(t)))
            .await;
        assert_eq!(page.status, 302, "{}", page.body);
        assert_eq!(
            page.redirect_param("error").as_deref(),
            Some("invalid_request")
        );
        let description = page.redirect_param("error_description").unwrap();
        assert!(
            description.contains(&format!("{t:?}")) && description.contains(why),
            "{description}"
        );
    }
    // The start button of the login page works too.
    let page = browser.get(&authorize(&hub, &any, &challenge, None)).await;
    let started = browser
        .post(
            &hub.url("/login/upstream/start"),
            &[
                ("request_id", &page.field("request_id")),
                ("csrf", &page.field("csrf")),
                ("upstream", "corp"),
            ],
        )
        .await;
    assert_eq!(started.status, 302, "{}", started.body);
    // Password sign-in: amr pwd.
    let page = browser
        .get(&authorize(&hub, &any, &challenge, Some("password")))
        .await;
    assert!(page.body.contains("name=\"password\"") && !page.body.contains("Corp SSO"));
    let request_id = page.field("request_id");
    let csrf = page.field("csrf");
    let consent = browser
        .post(
            &hub.url("/oauth2/login"),
            &[
                ("request_id", &request_id),
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    let done = allow(&mut browser, &hub, consent).await;
    let code = done.redirect_param("code").unwrap();
    let (status, body) = code_exchange(&hub, (&any, &any_secret), &code, REDIRECT, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims.get("idp").is_none());
    // That password session does not answer a request for type=corp: off to the provider.
    let page = browser
        .get(&authorize(&hub, &any, &challenge, Some("corp")))
        .await;
    assert_eq!(page.status, 302);
    assert!(page.location.unwrap().starts_with(&fake.issuer));
    hub.finish().await;
}

/// A provisioned user never takes over a local account of the same name.
#[tokio::test]
async fn provisioning_does_not_take_over_a_local_username() {
    let (fake, _dir, hub) = sqlite_hub_with_fake().await;
    hub.user("ada_lovelace", "correct horse battery").await;
    let (id, _) = client(&hub, &[]).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    let upstream = start(&mut browser, &hub, &id, &challenge).await;
    let nonce = query_param(&upstream, "nonce").unwrap();
    let state = query_param(&upstream, "state").unwrap();
    fake.answer_with(&fake.sign(&fake.claims(&nonce, hub.clock.now_ms() / 1000)));
    let page = callback(&mut browser, &hub, &[("code", "c"), ("state", &state)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("ada_lovelace-2"), "{}", page.body);
    assert!(
        hub.auth
            .upstream_identities("ada_lovelace")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        hub.auth
            .upstream_identities("ada_lovelace-2")
            .await
            .unwrap()
            .len(),
        1
    );
    hub.finish().await;
}

#[tokio::test]
async fn link_only_providers_take_only_linked_identities() {
    for backend in backends() {
        let fake = FakeUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let hub = hub_with(
            &backend,
            vec![fake.provider(dir.path(), Provision::LinkOnly)],
        )
        .await;
        hub.user("alice", "correct horse battery").await;
        let (id, secret) = client(&hub, &[]).await;
        let (verifier, challenge) = pkce();
        let mut browser = Browser::new();
        let upstream = start(&mut browser, &hub, &id, &challenge).await;
        let nonce = query_param(&upstream, "nonce").unwrap();
        let state = query_param(&upstream, "state").unwrap();
        fake.answer_with(&fake.sign(&fake.claims(&nonce, hub.clock.now_ms() / 1000)));
        let page = callback(&mut browser, &hub, &[("code", "c"), ("state", &state)]).await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(
            page.body.contains("not linked to a user of this hub"),
            "{}",
            page.body
        );
        assert_eq!(hub.count_rows("users").await, 1);
        assert_eq!(hub.count_rows("upstream_identities").await, 0);
        // An admin links the identity; the same person now signs in as alice.
        hub.auth
            .link_upstream_identity("alice", "corp", "fake-sub-1")
            .await
            .unwrap();
        let again = hub
            .auth
            .link_upstream_identity("alice", "corp", "fake-sub-1")
            .await;
        assert!(again.unwrap_err().to_string().contains("already linked"));
        let upstream = start(&mut browser, &hub, &id, &challenge).await;
        let nonce = query_param(&upstream, "nonce").unwrap();
        let state = query_param(&upstream, "state").unwrap();
        fake.answer_with(&fake.sign(&fake.claims(&nonce, hub.clock.now_ms() / 1000)));
        let page = callback(&mut browser, &hub, &[("code", "c"), ("state", &state)]).await;
        let done = allow(&mut browser, &hub, page).await;
        let code = done.redirect_param("code").unwrap();
        let (status, body) = code_exchange(&hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{body}");
        let claims = claims_of(body["id_token"].as_str().unwrap());
        assert_eq!(claims["preferred_username"], "alice");
        assert_eq!(claims["idp"], "corp");
        let linked = hub.auth.upstream_identities("alice").await.unwrap();
        assert_eq!(linked.len(), 1);
        assert_eq!(linked[0].subject, "fake-sub-1");
        hub.finish().await;
    }
}

/// Hub B is the provider of hub A: a person with a password at B signs in to a client of A
/// with `type=b`.
#[tokio::test]
async fn a_second_hub_is_a_real_upstream() {
    let hub_b = TestHub::start(&Backend::Sqlite).await;
    hub_b.user("grace", "correct horse battery").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_base = format!("http://{}", listener.local_addr().unwrap());
    let (b_client, b_secret) = hub_b
        .client(
            &["authorization_code"],
            "openid profile",
            &[&format!("{a_base}/login/upstream/callback")],
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut upstream = provider(
        "b",
        &hub_b.base,
        &b_client,
        &b_secret,
        dir.path(),
        Provision::Auto,
    );
    upstream.display_name = "Hub B".into();
    let hub_a = TestHub::start_with_upstreams(&Backend::Sqlite, listener, vec![upstream]).await;
    let (id, secret) = client(&hub_a, &[]).await;
    let (verifier, challenge) = pkce();
    // Cookies are per site: one jar per hub, as a browser keeps them per host.
    let (mut at_a, mut at_b) = (Browser::new(), Browser::new());
    let page = at_a
        .get(&authorize(&hub_a, &id, &challenge, Some("b")))
        .await;
    assert_eq!(page.status, 302, "{}", page.body);
    let login = at_b.get(&page.location.unwrap()).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = at_b
        .post(
            &hub_b.url("/oauth2/login"),
            &[
                ("request_id", &login.field("request_id")),
                ("csrf", &login.field("csrf")),
                ("username", "grace"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    let back = allow(&mut at_b, &hub_b, consent).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let back_to_a = back.location.unwrap();
    assert!(back_to_a.starts_with(&format!("{a_base}/login/upstream/callback?")));
    let page = at_a.get(&back_to_a).await;
    let done = allow(&mut at_a, &hub_a, page).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = done.redirect_param("code").unwrap();
    let (status, body) = code_exchange(&hub_a, (&id, &secret), &code, REDIRECT, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(claims["preferred_username"], "grace");
    assert_eq!(claims["amr"], json!(["fed"]));
    assert_eq!(claims["idp"], "b");
    assert_eq!(claims["iss"], hub_a.base);
    hub_a.finish().await;
    hub_b.finish().await;
}

mod policy;
