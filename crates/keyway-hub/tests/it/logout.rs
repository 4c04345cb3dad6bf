//! OpenID Connect logout: the end-session endpoint (RP-Initiated Logout 1.0) and logout
//! tokens POSTed to the clients a session signed in to (Back-Channel Logout 1.0).

use std::time::Duration;

use axum::http::StatusCode;
use keyway_auth::ClientPolicy;
use tokio::sync::mpsc;

use crate::browser::{Browser, Page, authorize_url, log_in, log_in_and_allow, pkce};
use crate::client_credentials::verify_jwt_with_jwks;
use crate::harness::{TestHub, code_exchange, on_every_backend, post_form};

const REDIRECT: &str = "http://127.0.0.1:9/cb";
const AFTER_LOGOUT: &str = "http://127.0.0.1:9/signed-out?from=hub";
const PASSWORD: &str = "correct horse battery";

/// A client's back-channel logout endpoint: records every `logout_token` POSTed to it.
struct LogoutReceiver {
    url: String,
    tokens: mpsc::UnboundedReceiver<String>,
}

impl LogoutReceiver {
    async fn start() -> LogoutReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (sender, tokens) = mpsc::unbounded_channel();
        let app = axum::Router::new().route(
            "/backchannel-logout",
            axum::routing::post(move |body: String| {
                let sender = sender.clone();
                async move {
                    let token = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(name, _)| name == "logout_token")
                        .map(|(_, value)| value.into_owned())
                        .expect("a logout_token field");
                    sender.send(token).unwrap();
                    StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        LogoutReceiver {
            url: format!("http://{address}/backchannel-logout"),
            tokens,
        }
    }

    /// The next logout token (the hub delivers them in the background).
    async fn next(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.tokens.recv())
            .await
            .expect("a logout token within 10 s")
            .unwrap()
    }

    /// No further token arrives within a moment.
    async fn nothing_more(&mut self) {
        let more = tokio::time::timeout(Duration::from_millis(500), self.tokens.recv()).await;
        assert!(more.is_err(), "an unexpected logout token: {more:?}");
    }
}

/// A confidential client with a post-logout URI and a back-channel logout URI.
async fn logout_client(hub: &TestHub, scope: &str, backchannel: &str) -> (String, String) {
    hub.client_with_policy(
        &["authorization_code", "refresh_token"],
        scope,
        &[REDIRECT],
        ClientPolicy {
            post_logout_redirect_uris: vec![AFTER_LOGOUT.into()],
            backchannel_logout_uri: Some(backchannel.into()),
            ..ClientPolicy::default()
        },
    )
    .await
}

/// Signs `browser` in for `client` and redeems the code: the token response.
async fn sign_in_for(
    hub: &TestHub,
    browser: &mut Browser,
    client: (&str, &str),
    scope: &str,
) -> serde_json::Value {
    authorize_for(hub, browser, client, scope, false).await
}

/// As [`sign_in_for`]; with `in_session`, the browser's hub session answers for the person
/// (only the consent page is shown).
async fn authorize_for(
    hub: &TestHub,
    browser: &mut Browser,
    (id, secret): (&str, &str),
    scope: &str,
    in_session: bool,
) -> serde_json::Value {
    let (verifier, challenge) = pkce();
    let authorize = authorize_url(hub, id, REDIRECT, scope, &challenge);
    let done = if in_session {
        let consent = browser.get(&authorize).await;
        assert!(consent.body.contains("decision"), "{}", consent.body);
        browser
            .post(
                &hub.url("/oauth2/consent"),
                &[
                    ("request_id", &consent.field("request_id")),
                    ("csrf", &consent.field("csrf")),
                    ("decision", "allow"),
                ],
            )
            .await
    } else {
        log_in_and_allow(browser, hub, &authorize, "alice", PASSWORD).await
    };
    assert_eq!(done.status, 303, "{}", done.body);
    let code = done.redirect_param("code").expect("a code");
    let (status, tokens) = code_exchange(hub, (id, secret), &code, REDIRECT, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

fn logout_url(hub: &TestHub, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&hub.url("/oauth2/logout")).unwrap();
    for (name, value) in params {
        url.query_pairs_mut().append_pair(name, value);
    }
    url.to_string()
}

/// Whether `browser` still has a hub session (a `prompt=none` authorization answers with a
/// code, not `login_required`).
async fn still_signed_in(hub: &TestHub, browser: &mut Browser, client_id: &str) -> bool {
    let (_, challenge) = pkce();
    let url = format!(
        "{}&prompt=none",
        authorize_url(hub, client_id, REDIRECT, "openid", &challenge)
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 302, "{}", page.body);
    page.redirect_param("code").is_some()
}

pub(crate) fn claims_of(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn refresh(hub: &TestHub, (id, secret): (&str, &str), token: &str) -> u16 {
    let (status, _, _) = post_form(
        &hub.url("/oauth2/token"),
        Some((id, secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await;
    status
}

/// The whole RP-initiated logout: the application sends the person to the end-session
/// endpoint with its ID token; the session ends at once, the browser returns to the
/// registered URI with `state`, both clients the session reached get a verifiable logout
/// token with the ID tokens' `sid`, and the refresh token given without `offline_access`
/// stops working while the offline one lives on.
#[tokio::test]
async fn logging_out_from_an_application_ends_the_session_everywhere() {
    on_every_backend(async |hub: &TestHub| {
        let mut receiver = LogoutReceiver::start().await;
        let a = logout_client(hub, "openid", &receiver.url).await;
        let b = logout_client(hub, "openid offline_access", &receiver.url).await;
        hub.user("alice", PASSWORD).await;
        let mut browser = Browser::new();
        let from_a = sign_in_for(hub, &mut browser, (&a.0, &a.1), "openid").await;
        let from_b = authorize_for(
            hub,
            &mut browser,
            (&b.0, &b.1),
            "openid offline_access",
            true,
        )
        .await;
        let id_token = from_a["id_token"].as_str().unwrap();
        let sid = claims_of(id_token)["sid"].as_str().unwrap().to_string();
        assert_eq!(claims_of(from_b["id_token"].as_str().unwrap())["sid"], sid);

        let page = browser
            .get(&logout_url(
                hub,
                &[
                    ("id_token_hint", id_token),
                    ("post_logout_redirect_uri", AFTER_LOGOUT),
                    ("state", "s&t=1"),
                ],
            ))
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
        let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
        assert_eq!(location.path(), "/signed-out");
        assert_eq!(
            pairs,
            [
                ("from".into(), "hub".into()),
                ("state".into(), "s&t=1".into())
            ]
        );
        assert!(
            page.cookie_attributes("keyway_session")
                .is_some_and(|a| a.contains("Max-Age=0")),
            "the session cookie is cleared: {:?}",
            page.set_cookies
        );

        let mut told = [receiver.next().await, receiver.next().await];
        receiver.nothing_more().await;
        told.sort_by_key(|t| claims_of(t)["aud"].as_str().unwrap().to_string());
        let mut expected = [a.0.clone(), b.0.clone()];
        expected.sort();
        for (token, client_id) in told.iter().zip(&expected) {
            let header = jsonwebtoken::decode_header(token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
            let claims = verify_jwt_with_jwks(hub, token, client_id).await;
            assert_eq!(claims["sub"], claims_of(id_token)["sub"]);
            assert_eq!(claims["sid"], sid.as_str());
            assert_eq!(
                claims["events"],
                serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}})
            );
            assert!(claims.get("nonce").is_none());
            assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
        }

        assert!(!still_signed_in(hub, &mut browser, &a.0).await);
        let session_bound = from_a["refresh_token"].as_str().unwrap();
        let offline = from_b["refresh_token"].as_str().unwrap();
        assert_eq!(refresh(hub, (&a.0, &a.1), session_bound).await, 400);
        assert_eq!(refresh(hub, (&b.0, &b.1), offline).await, 200);
    })
    .await;
}

/// Without an ID token of this session the person is asked (any page could link to the
/// endpoint); a cross-site post without the page's token changes nothing; the answer ends the
/// session and shows a signed-out page.
#[tokio::test]
async fn logging_out_without_a_hint_asks_the_person_first() {
    on_every_backend(async |hub: &TestHub| {
        let mut receiver = LogoutReceiver::start().await;
        let a = logout_client(hub, "openid", &receiver.url).await;
        hub.user("alice", PASSWORD).await;
        let mut browser = Browser::new();
        sign_in_for(hub, &mut browser, (&a.0, &a.1), "openid").await;

        let question = browser.get(&hub.url("/oauth2/logout")).await;
        assert_eq!(question.status, 200, "{}", question.body);
        assert!(
            question.body.contains("Sign out of keyway?"),
            "{}",
            question.body
        );
        assert!(question.body.contains("alice"), "{}", question.body);
        assert!(still_signed_in(hub, &mut browser, &a.0).await);

        // What another site can post: the same parameters, without the page's token.
        let forged = browser
            .post(&hub.url("/oauth2/logout"), &[("client_id", &a.0)])
            .await;
        assert_eq!(forged.status, 200);
        assert!(forged.body.contains("Sign out of keyway?"));
        let wrong = browser
            .post(&hub.url("/oauth2/logout"), &[("csrf", "forged")])
            .await;
        assert_eq!(wrong.status, 403, "{}", wrong.body);
        assert!(still_signed_in(hub, &mut browser, &a.0).await);
        receiver.nothing_more().await;

        let csrf = question.field("csrf");
        let done = browser
            .post(&hub.url("/oauth2/logout"), &[("csrf", &csrf)])
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("You are signed out"), "{}", done.body);
        assert!(!still_signed_in(hub, &mut browser, &a.0).await);
        let token = receiver.next().await;
        assert_eq!(claims_of(&token)["aud"], a.0.as_str());
    })
    .await;
}

/// An ID token from an earlier session of the same person does not end the current one
/// unasked; with a `client_id` the confirmation names the application.
#[tokio::test]
async fn an_id_token_of_an_earlier_session_needs_confirmation() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let receiver = LogoutReceiver::start().await;
    let a = logout_client(&hub, "openid", &receiver.url).await;
    hub.user("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let first = sign_in_for(&hub, &mut browser, (&a.0, &a.1), "openid").await;
    let old_hint = first["id_token"].as_str().unwrap().to_string();
    let out = browser
        .get(&logout_url(&hub, &[("id_token_hint", &old_hint)]))
        .await;
    assert_eq!(out.status, 200);
    assert!(out.body.contains("You are signed out"), "{}", out.body);

    let second = sign_in_for(&hub, &mut browser, (&a.0, &a.1), "openid").await;
    assert_ne!(
        claims_of(&old_hint)["sid"],
        claims_of(second["id_token"].as_str().unwrap())["sid"]
    );
    let asked = browser
        .get(&logout_url(&hub, &[("id_token_hint", &old_hint)]))
        .await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("Sign out of keyway?"), "{}", asked.body);
    assert!(asked.body.contains("test client"), "{}", asked.body);
    assert!(still_signed_in(&hub, &mut browser, &a.0).await);
    hub.finish().await;
}

/// Every bad end-session request is refused on a page that names the cause, sends the browser
/// nowhere and leaves the session as it was.
#[tokio::test]
async fn bad_end_session_requests_are_refused_and_change_nothing() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let mut receiver = LogoutReceiver::start().await;
    let a = logout_client(&hub, "openid", &receiver.url).await;
    let b = logout_client(&hub, "openid", &receiver.url).await;
    hub.user("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let tokens = sign_in_for(&hub, &mut browser, (&a.0, &a.1), "openid").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    let mut tampered = id_token.to_string();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    // Signed by another issuer's key: a token of a hub that is not this one.
    let other = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let c = logout_client(&other, "openid", &receiver.url).await;
    other.user("alice", PASSWORD).await;
    let foreign = sign_in_for(&other, &mut Browser::new(), (&c.0, &c.1), "openid").await;
    other.finish().await;
    let foreign = foreign["id_token"].as_str().unwrap().to_string();
    let long_hint = "e".repeat(9000);

    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("id_token_hint", &tampered)],
            "not an ID token issued by this hub",
        ),
        (
            vec![("id_token_hint", access_token)],
            "not an ID token issued by this hub",
        ),
        (
            vec![("id_token_hint", &foreign)],
            "not an ID token issued by this hub",
        ),
        (
            vec![("id_token_hint", id_token), ("client_id", &b.0)],
            "issued to another client",
        ),
        (
            vec![
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", "https://attacker.example/"),
            ],
            "is not registered for client",
        ),
        (
            vec![("post_logout_redirect_uri", AFTER_LOGOUT)],
            "needs client_id or id_token_hint",
        ),
        (vec![("client_id", "no-such-client")], "is not registered"),
        (vec![("id_token_hint", &long_hint)], "longer than 8192"),
        (vec![("state", "a"), ("state", "b")], "state"),
    ];
    for (params, cause) in cases {
        let page = browser.get(&logout_url(&hub, &params)).await;
        assert_eq!(page.status, 400, "{params:?}: {}", page.body);
        assert!(page.location.is_none(), "{params:?}");
        assert!(page.body.contains(cause), "{params:?}: {}", page.body);
        assert!(page.set_cookies.is_empty(), "{params:?}");
    }
    assert!(still_signed_in(&hub, &mut browser, &a.0).await);
    receiver.nothing_more().await;
    hub.finish().await;
}

/// Ending sessions from the admin side — `keyway user logout`, disabling a user, a new
/// password — tells the clients the sessions reached, as signing out does.
#[tokio::test]
async fn admin_session_endings_tell_the_clients() {
    on_every_backend(async |hub: &TestHub| {
        let mut receiver = LogoutReceiver::start().await;
        let a = logout_client(hub, "openid", &receiver.url).await;
        hub.user("alice", PASSWORD).await;
        let sid_of = |tokens: &serde_json::Value| {
            claims_of(tokens["id_token"].as_str().unwrap())["sid"].clone()
        };

        let mut browser = Browser::new();
        let tokens = sign_in_for(hub, &mut browser, (&a.0, &a.1), "openid").await;
        assert_eq!(hub.auth.logout_user("alice", false).await.unwrap(), 1);
        assert_eq!(claims_of(&receiver.next().await)["sid"], sid_of(&tokens));
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        assert_eq!(refresh(hub, (&a.0, &a.1), refresh_token).await, 400);

        let tokens = sign_in_for(hub, &mut Browser::new(), (&a.0, &a.1), "openid").await;
        hub.auth
            .set_password(
                "alice",
                &keyway_auth::SecretString::new("another long password".into()),
                false,
            )
            .await
            .unwrap();
        assert_eq!(claims_of(&receiver.next().await)["sid"], sid_of(&tokens));
        // What the session gave without offline_access ended with it, as on signing out.
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        assert_eq!(refresh(hub, (&a.0, &a.1), refresh_token).await, 400);
        hub.auth
            .set_password(
                "alice",
                &keyway_auth::SecretString::new(PASSWORD.into()),
                false,
            )
            .await
            .unwrap();

        let tokens = sign_in_for(hub, &mut Browser::new(), (&a.0, &a.1), "openid").await;
        hub.auth.disable_user("alice").await.unwrap();
        assert_eq!(claims_of(&receiver.next().await)["sid"], sid_of(&tokens));
        receiver.nothing_more().await;
    })
    .await;
}

/// A client that cannot be reached is tried three times, then counted as failed; the person
/// signing out sees the signed-out page whatever the client does.
#[tokio::test]
async fn an_unreachable_client_does_not_hold_up_the_logout() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}/gone", closed.local_addr().unwrap());
    drop(closed);
    let a = logout_client(&hub, "openid", &dead).await;
    hub.user("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let tokens = sign_in_for(&hub, &mut browser, (&a.0, &a.1), "openid").await;
    let page: Page = browser
        .get(&logout_url(
            &hub,
            &[("id_token_hint", tokens["id_token"].as_str().unwrap())],
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("You are signed out"));
    let failed = "keyway_backchannel_logout_total{result=\"failed\"}";
    let mut counted = false;
    for _ in 0..40 {
        if crate::harness::metrics_text(&hub).await.contains(failed) {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(counted, "{failed} after the retries");
    hub.finish().await;
}

/// One browser, one session: signing in again as the same person keeps the session's id
/// (the clients see one session, and one logout reaches all of them); another person signing
/// in on the same browser ends the first person's session, and its clients are told.
#[tokio::test]
async fn signing_in_again_replaces_the_browsers_session() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let mut receiver = LogoutReceiver::start().await;
    let a = logout_client(&hub, "openid", &receiver.url).await;
    hub.user("alice", PASSWORD).await;
    hub.user("bob", PASSWORD).await;
    let mut browser = Browser::new();
    let first = sign_in_for(&hub, &mut browser, (&a.0, &a.1), "openid").await;
    // prompt=login: the password again, in the browser that has the session.
    let (verifier, challenge) = pkce();
    let authorize = format!(
        "{}&prompt=login",
        authorize_url(&hub, &a.0, REDIRECT, "openid", &challenge)
    );
    let done = log_in_and_allow(&mut browser, &hub, &authorize, "alice", PASSWORD).await;
    let code = done.redirect_param("code").expect("a code");
    let (status, again) = code_exchange(&hub, (&a.0, &a.1), &code, REDIRECT, &verifier).await;
    assert_eq!(status, 200, "{again}");
    let sid = claims_of(first["id_token"].as_str().unwrap())["sid"].clone();
    assert_eq!(claims_of(again["id_token"].as_str().unwrap())["sid"], sid);
    assert_eq!(hub.count_rows("login_sessions").await, 1);
    receiver.nothing_more().await;

    // Bob signs in on alice's browser: her session ends, her client is told.
    let (_, challenge) = pkce();
    let authorize = format!(
        "{}&prompt=login",
        authorize_url(&hub, &a.0, REDIRECT, "openid", &challenge)
    );
    let done = log_in(&mut browser, &hub, &authorize, "bob", PASSWORD).await;
    assert_eq!(done.status, 200, "bob's consent page: {}", done.body);
    assert_eq!(claims_of(&receiver.next().await)["sid"], sid);
    assert!(hub.auth.user_sessions("alice").await.unwrap().is_empty());
    let old_refresh = first["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&hub, (&a.0, &a.1), old_refresh).await, 400);
    hub.finish().await;
}

/// A client page that posts the logout form from its own site reaches the hub without the
/// session cookie (SameSite=Lax): the hub sends the browser on as a GET, which carries it,
/// instead of answering "signed out" for a session that lives on.
#[tokio::test]
async fn a_cross_site_post_is_turned_into_a_get() {
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let receiver = LogoutReceiver::start().await;
    let a = logout_client(&hub, "openid", &receiver.url).await;
    hub.user("alice", PASSWORD).await;
    let tokens = sign_in_for(&hub, &mut Browser::new(), (&a.0, &a.1), "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    // What the browser sends cross-site: no cookies at all.
    let page = Browser::new()
        .post(
            &hub.url("/oauth2/logout"),
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
                ("state", "x y"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.unwrap();
    assert!(
        location.starts_with("/oauth2/logout?id_token_hint="),
        "{location}"
    );
    assert!(location.ends_with("&state=x+y"), "{location}");
    assert_eq!(
        hub.count_rows("login_sessions").await,
        1,
        "nothing ended yet"
    );
    hub.finish().await;
}

/// An ID token signed with a key the hub no longer publishes (rotated out while the session
/// lived) is not refused outright: it names its client, and the person is asked.
#[tokio::test]
async fn a_hint_signed_by_a_retired_key_leads_to_the_question() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let receiver = LogoutReceiver::start().await;
    let a = logout_client(&hub, "openid", &receiver.url).await;
    hub.user("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let tokens = sign_in_for(&hub, &mut browser, (&a.0, &a.1), "openid").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let mut parts = id_token.split('.');
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let mut header = header.as_object().unwrap().clone();
    header.insert("kid".into(), "a-retired-key".into());
    let retired = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    let page = browser
        .get(&logout_url(
            &hub,
            &[
                ("id_token_hint", &retired),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
            ],
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Sign out of keyway?"), "{}", page.body);
    assert!(
        !page.body.contains("test client"),
        "an unverified hint does not name the application: {}",
        page.body
    );
    assert!(still_signed_in(&hub, &mut browser, &a.0).await);
    let done = browser
        .post(
            &hub.url("/oauth2/logout"),
            &[
                ("id_token_hint", &retired),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
                ("csrf", &page.field("csrf")),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some(AFTER_LOGOUT));
    hub.finish().await;
}

/// A session that runs out settles what it gave as a sign-out does: its refresh tokens without
/// offline_access stop at the next purge; offline ones live on.
#[tokio::test]
async fn an_expired_session_takes_its_session_tokens_along() {
    use keyway_auth::Clock;
    let hub = TestHub::start(&crate::harness::Backend::Sqlite).await;
    let receiver = LogoutReceiver::start().await;
    let a = logout_client(&hub, "openid offline_access", &receiver.url).await;
    hub.user("alice", PASSWORD).await;
    let mut browser = Browser::new();
    let bound = sign_in_for(&hub, &mut browser, (&a.0, &a.1), "openid").await;
    let offline = authorize_for(
        &hub,
        &mut browser,
        (&a.0, &a.1),
        "openid offline_access",
        true,
    )
    .await;
    hub.clock.advance_secs(13 * 3600);
    let now = hub.clock.now_secs();
    hub.auth.store().purge_expired(now).await.unwrap();
    assert_eq!(hub.count_rows("login_sessions").await, 0);
    let session_bound = bound["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&hub, (&a.0, &a.1), session_bound).await, 400);
    let lasting = offline["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&hub, (&a.0, &a.1), lasting).await, 200);
    hub.finish().await;
}

/// SCIM's `active: false`, a SCIM password and a SCIM delete end sessions as the CLI does, so
/// they tell the clients too (docs/scim.md).
#[tokio::test]
async fn scim_session_endings_tell_the_clients() {
    on_every_backend(async |hub: &TestHub| {
        let mut receiver = LogoutReceiver::start().await;
        let a = logout_client(hub, "openid", &receiver.url).await;
        hub.user("alice", PASSWORD).await;
        let alice = hub.auth.show_user("alice").await.unwrap().user_id;
        let (id, secret) = hub.client(&["client_credentials"], "scim", &[]).await;
        let token = crate::harness::client_credentials_token(hub, &id, &secret).await;
        let patch = |ops: serde_json::Value| {
            let url = hub.url(&format!("/scim/v2/Users/{alice}"));
            let token = token.clone();
            async move {
                let body = serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": ops,
                });
                let response = crate::harness::http()
                    .patch(url)
                    .bearer_auth(token)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
            }
        };
        let sid_of = |tokens: &serde_json::Value| {
            claims_of(tokens["id_token"].as_str().unwrap())["sid"].clone()
        };

        let tokens = sign_in_for(hub, &mut Browser::new(), (&a.0, &a.1), "openid").await;
        patch(serde_json::json!([{"op": "replace", "path": "password", "value": "another long password"}])).await;
        assert_eq!(claims_of(&receiver.next().await)["sid"], sid_of(&tokens));
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        assert_eq!(refresh(hub, (&a.0, &a.1), refresh_token).await, 400);
        patch(serde_json::json!([{"op": "replace", "path": "password", "value": PASSWORD}])).await;

        let tokens = sign_in_for(hub, &mut Browser::new(), (&a.0, &a.1), "openid").await;
        patch(serde_json::json!([{"op": "replace", "path": "active", "value": false}])).await;
        assert_eq!(claims_of(&receiver.next().await)["sid"], sid_of(&tokens));
        patch(serde_json::json!([{"op": "replace", "path": "active", "value": true}])).await;

        let tokens = sign_in_for(hub, &mut Browser::new(), (&a.0, &a.1), "openid").await;
        let deleted = crate::harness::http()
            .delete(hub.url(&format!("/scim/v2/Users/{alice}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        assert_eq!(claims_of(&receiver.next().await)["sid"], sid_of(&tokens));
        receiver.nothing_more().await;
    })
    .await;
}
