//! The authorization code flow through the login and consent pages.

use crate::browser::{Browser, authorize_url, log_in_and_allow, obtain_code, pkce};
use crate::harness::{TestHub, http, on_every_backend, post_form};

const CB: &str = "http://127.0.0.1:9/callback";

async fn exchange(
    hub: &TestHub,
    id: &str,
    secret: &str,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    crate::harness::code_exchange(hub, (id, secret), code, CB, verifier).await
}

#[tokio::test]
async fn login_consent_code_and_tokens() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "openid read",
                &[CB],
            )
            .await;
        hub.user("alice", "correct horse battery").await;
        let (verifier, challenge) = pkce();
        let mut browser = Browser::new();
        let login = browser
            .get(&authorize_url(hub, &id, CB, "openid read", &challenge))
            .await;
        assert_eq!(login.status, 200);
        assert!(
            login.body.contains("name=\"username\"") && login.body.contains("name=\"password\"")
        );
        assert!(login.body.contains("<label for=\"username\">"));
        let done = log_in_and_allow(
            &mut browser,
            hub,
            &authorize_url(hub, &id, CB, "openid read", &challenge),
            "alice",
            "correct horse battery",
        )
        .await;
        assert_eq!(done.status, 303);
        assert!(done.location.as_deref().unwrap().starts_with(CB));
        assert_eq!(done.redirect_param("state").as_deref(), Some("st-123"));
        assert_eq!(
            done.redirect_param("iss").as_deref(),
            Some(hub.base.as_str())
        );
        let code = done.redirect_param("code").unwrap();
        let (status, body) = exchange(hub, &id, &secret, &code, &verifier).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["refresh_token"].as_str().unwrap().starts_with("kwr_"));
        let claims = crate::client_credentials::verify_with_jwks(
            hub,
            body["access_token"].as_str().unwrap(),
            &hub.base,
        )
        .await;
        assert_eq!(claims["username"], "alice");
        assert_eq!(claims["client_id"], id.as_str());
        // The ID token: audience is the client, nonce echoed.
        let id_token = body["id_token"].as_str().unwrap();
        let payload: serde_json::Value = {
            use base64::Engine;
            let part = id_token.split('.').nth(1).unwrap();
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(part)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(payload["aud"], id.as_str());
        assert_eq!(payload["nonce"], "n-456");
        assert_eq!(payload["sub"], claims["sub"]);
        // UserInfo with the access token.
        let info: serde_json::Value = http()
            .get(hub.url("/oauth2/userinfo"))
            .bearer_auth(body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["preferred_username"], "alice");

        // A returning user with a session and remembered consent goes straight back.
        let (_, challenge) = pkce();
        let again = browser
            .get(&authorize_url(hub, &id, CB, "read", &challenge))
            .await;
        assert_eq!(again.status, 302, "{}", again.body);
        assert!(again.redirect_param("code").is_some());
        // A wider scope than consented asks again.
        let (_, challenge) = pkce();
        let wider = browser
            .get(&authorize_url(hub, &id, CB, "openid read", &challenge))
            .await;
        assert_eq!(wider.status, 302);
    })
    .await;
}

#[tokio::test]
async fn code_is_single_use_and_replay_revokes_its_tokens() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(&["authorization_code", "refresh_token"], "read", &[CB])
            .await;
        let (code, verifier) = obtain_code(hub, &id, CB, "read").await;
        let (status, first) = exchange(hub, &id, &secret, &code, &verifier).await;
        assert_eq!(status, 200);
        let (status, second) = exchange(hub, &id, &secret, &code, &verifier).await;
        assert_eq!(
            (status, second["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (_, _, intro) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&id, &secret)),
            &[("token", first["access_token"].as_str().unwrap())],
        )
        .await;
        assert_eq!(
            intro["active"], false,
            "access token from a replayed code must be revoked"
        );
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    })
    .await;
}

#[tokio::test]
async fn pkce_redirect_and_expiry_rules() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["authorization_code"], "read", &[CB]).await;
        // Wrong verifier.
        let (code, _) = obtain_code(hub, &id, CB, "read").await;
        let (wrong, _) = pkce();
        let (status, body) = exchange(hub, &id, &secret, &code, &wrong).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        // Missing verifier is a malformed request and does not consume the code.
        let (code, verifier) = {
            let mut browser = Browser::new();
            let (verifier, challenge) = pkce();
            let page = log_in_and_allow(
                &mut browser,
                hub,
                &authorize_url(hub, &id, CB, "read", &challenge),
                "alice",
                "correct horse battery",
            )
            .await;
            (page.redirect_param("code").unwrap(), verifier)
        };
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request"))
        );
        // Wrong redirect URI.
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/other"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        // Expired code (codes live 60 s).
        let mut browser = Browser::new();
        let (verifier, challenge) = pkce();
        let page = log_in_and_allow(
            &mut browser,
            hub,
            &authorize_url(hub, &id, CB, "read", &challenge),
            "alice",
            "correct horse battery",
        )
        .await;
        hub.clock.advance_secs(61);
        let (status, body) = exchange(
            hub,
            &id,
            &secret,
            &page.redirect_param("code").unwrap(),
            &verifier,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    })
    .await;
}

#[tokio::test]
async fn authorize_errors_are_shown_or_redirected_as_rfc6749_says() {
    on_every_backend(async |hub: &TestHub| {
        let (id, _) = hub.client(&["authorization_code"], "read", &[CB]).await;
        let mut browser = Browser::new();
        let (_, challenge) = pkce();
        // Unregistered redirect URI: an error page, never a redirect (open redirector).
        let page = browser
            .get(&authorize_url(
                hub,
                &id,
                "http://127.0.0.1:9/evil",
                "read",
                &challenge,
            ))
            .await;
        assert_eq!(page.status, 400);
        assert!(page.location.is_none());
        // Unknown client: error page.
        let page = browser
            .get(&authorize_url(hub, "nope", CB, "read", &challenge))
            .await;
        assert_eq!(page.status, 400);
        // No PKCE: redirected error.
        let url = authorize_url(hub, &id, CB, "read", &challenge)
            .replace("&code_challenge_method=S256", "");
        let page = browser.get(&url).await;
        assert_eq!(page.status, 302);
        assert_eq!(
            page.redirect_param("error").as_deref(),
            Some("invalid_request")
        );
        assert_eq!(page.redirect_param("state").as_deref(), Some("st-123"));
        // plain PKCE is refused.
        let url = authorize_url(hub, &id, CB, "read", &challenge).replace("S256", "plain");
        assert_eq!(
            browser.get(&url).await.redirect_param("error").as_deref(),
            Some("invalid_request")
        );
        // Implicit flow refused.
        let url = authorize_url(hub, &id, CB, "read", &challenge)
            .replace("response_type=code", "response_type=token");
        assert_eq!(
            browser.get(&url).await.redirect_param("error").as_deref(),
            Some("unsupported_response_type")
        );
        // Scope outside the client's allowance.
        let page = browser
            .get(&authorize_url(hub, &id, CB, "read admin", &challenge))
            .await;
        assert_eq!(
            page.redirect_param("error").as_deref(),
            Some("invalid_scope")
        );
        // prompt=none without a session.
        let page = browser
            .get(&format!(
                "{}&prompt=none",
                authorize_url(hub, &id, CB, "read", &challenge)
            ))
            .await;
        assert_eq!(
            page.redirect_param("error").as_deref(),
            Some("login_required")
        );
    })
    .await;
}

#[tokio::test]
async fn deny_csrf_and_login_throttling() {
    on_every_backend(async |hub: &TestHub| {
        let (id, _) = hub.client(&["authorization_code"], "read", &[CB]).await;
        hub.user("bob", "a long passphrase").await;
        let (_, challenge) = pkce();
        let authorize = authorize_url(hub, &id, CB, "read", &challenge);

        // Deny.
        let mut browser = Browser::new();
        let login = browser.get(&authorize).await;
        let (request_id, csrf) = (login.field("request_id"), login.field("csrf"));
        let consent = browser
            .post(
                &hub.url("/oauth2/login"),
                &[
                    ("request_id", &request_id),
                    ("csrf", &csrf),
                    ("username", "bob"),
                    ("password", "a long passphrase"),
                ],
            )
            .await;
        // The consent form answers the request the sign-in stored.
        let (request_id, csrf) = (consent.field("request_id"), consent.field("csrf"));
        let denied = browser
            .post(
                &hub.url("/oauth2/consent"),
                &[
                    ("request_id", &request_id),
                    ("csrf", &csrf),
                    ("decision", "deny"),
                ],
            )
            .await;
        assert_eq!(
            denied.redirect_param("error").as_deref(),
            Some("access_denied")
        );
        assert_eq!(denied.redirect_param("state").as_deref(), Some("st-123"));
        // The request was answered once; a replayed allow fails.
        let again = browser
            .post(
                &hub.url("/oauth2/consent"),
                &[
                    ("request_id", &request_id),
                    ("csrf", &csrf),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(again.status, 400);

        // CSRF: a forged form (no token, or another browser's token) is refused.
        let mut browser = Browser::new();
        let login = browser.get(&authorize).await;
        let request_id = login.field("request_id");
        let forged = browser
            .post(
                &hub.url("/oauth2/login"),
                &[
                    ("request_id", &request_id),
                    ("csrf", "forged"),
                    ("username", "bob"),
                    ("password", "a long passphrase"),
                ],
            )
            .await;
        assert_eq!(forged.status, 403);
        let mut other = Browser::new();
        let stolen = other
            .post(
                &hub.url("/oauth2/login"),
                &[
                    ("request_id", &request_id),
                    ("csrf", &login.field("csrf")),
                    ("username", "bob"),
                    ("password", "a long passphrase"),
                ],
            )
            .await;
        assert_eq!(stolen.status, 403);

        // Throttling: five failures lock the username for a while, even with the right password.
        for _ in 0..5 {
            let page = browser
                .post(
                    &hub.url("/oauth2/login"),
                    &[
                        ("request_id", &request_id),
                        ("csrf", &login.field("csrf")),
                        ("username", "bob"),
                        ("password", "wrong password"),
                    ],
                )
                .await;
            assert_eq!(page.status, 401);
            assert!(page.body.contains("Incorrect username or password"));
        }
        let page = browser
            .post(
                &hub.url("/oauth2/login"),
                &[
                    ("request_id", &request_id),
                    ("csrf", &login.field("csrf")),
                    ("username", "bob"),
                    ("password", "a long passphrase"),
                ],
            )
            .await;
        assert_eq!(page.status, 429);
        assert!(
            page.body.contains("Try again in 1 second."),
            "{}",
            page.body
        );
        // After the window the right password works again.
        hub.clock.advance_secs(301);
        let page = browser
            .post(
                &hub.url("/oauth2/login"),
                &[
                    ("request_id", &request_id),
                    ("csrf", &login.field("csrf")),
                    ("username", "bob"),
                    ("password", "a long passphrase"),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("decision"));
    })
    .await;
}

#[tokio::test]
async fn public_clients_use_pkce_without_a_secret() {
    on_every_backend(async |hub: &TestHub| {
        let id = hub.public_client("read", CB).await;
        let (code, verifier) = obtain_code(hub, &id, CB, "read").await;
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            None,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &id),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let refresh = body["refresh_token"].as_str().unwrap();
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            None,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &id),
                ("refresh_token", refresh),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // Public clients may revoke their own tokens but not introspect.
        let access = body["access_token"].as_str().unwrap();
        let (status, _, _) = post_form(
            &hub.url("/oauth2/introspect"),
            None,
            &[("client_id", &id), ("token", access)],
        )
        .await;
        assert_eq!(status, 400);
        let (status, _, _) = post_form(
            &hub.url("/oauth2/revoke"),
            None,
            &[("client_id", &id), ("token", access)],
        )
        .await;
        assert_eq!(status, 200);
    })
    .await;
}

#[tokio::test]
async fn prompt_consent_asks_again_even_after_a_fresh_login() {
    on_every_backend(async |hub: &TestHub| {
        let (id, _) = hub.client(&["authorization_code"], "read", &[CB]).await;
        let (_, _) = obtain_code(hub, &id, CB, "read").await; // alice consents once
        let (_, challenge) = pkce();
        let mut browser = Browser::new();
        let url = format!(
            "{}&prompt=consent",
            authorize_url(hub, &id, CB, "read", &challenge)
        );
        let login = browser.get(&url).await;
        let page = browser
            .post(
                &hub.url("/oauth2/login"),
                &[
                    ("request_id", &login.field("request_id")),
                    ("csrf", &login.field("csrf")),
                    ("username", "alice"),
                    ("password", "correct horse battery"),
                ],
            )
            .await;
        assert_eq!(
            page.status, 200,
            "the consent page, not a redirect: {:?}",
            page.location
        );
        assert!(page.body.contains("decision"));
    })
    .await;
}

/// OIDC Core §3.1.2.1 `max_age`: a session signed in longer ago than `max_age` seconds does
/// not count (the login form is shown again); a recent one does; `0` always asks; a value that
/// is not a number of seconds is refused, also in a pushed request; the ID token says when the
/// person signed in.
#[tokio::test]
async fn max_age_asks_for_a_fresh_sign_in() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["authorization_code"], "openid", &[CB]).await;
        hub.user("alice", "correct horse battery").await;
        let mut browser = Browser::new();
        let (_, challenge) = pkce();
        let plain = authorize_url(hub, &id, CB, "openid", &challenge);
        let done =
            log_in_and_allow(&mut browser, hub, &plain, "alice", "correct horse battery").await;
        assert_eq!(done.status, 303, "{}", done.body);
        let signed_in_at = hub.auth.clock_source().now_secs();
        hub.clock.advance_secs(100);

        let stale = browser.get(&format!("{plain}&max_age=60")).await;
        assert_eq!(stale.status, 200, "{:?}", stale.location);
        assert!(
            stale.body.contains("action=\"/oauth2/login\""),
            "{}",
            stale.body
        );
        let now = browser.get(&format!("{plain}&max_age=0")).await;
        assert!(
            now.body.contains("action=\"/oauth2/login\""),
            "{}",
            now.body
        );

        let (verifier, challenge) = pkce();
        let recent = format!(
            "{}&max_age=3600",
            authorize_url(hub, &id, CB, "openid", &challenge)
        );
        let straight = browser.get(&recent).await;
        assert_eq!(straight.status, 302, "{}", straight.body);
        let code = straight.redirect_param("code").expect("a code");
        let (status, tokens) = exchange(hub, &id, &secret, &code, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        let claims = crate::client_credentials::verify_jwt_with_jwks(
            hub,
            tokens["id_token"].as_str().unwrap(),
            &id,
        )
        .await;
        assert_eq!(claims["auth_time"], signed_in_at);

        for bad in ["-1", "soon", "1e3", "99999999999"] {
            let page = browser.get(&format!("{plain}&max_age={bad}")).await;
            assert_eq!(page.status, 302, "{bad}: {}", page.body);
            assert_eq!(
                page.redirect_param("error").as_deref(),
                Some("invalid_request")
            );
            assert!(
                page.redirect_param("error_description")
                    .is_some_and(|d| d.contains("max_age")),
                "{bad}"
            );
        }
        let (status, _, pushed) = post_form(
            &hub.url("/oauth2/par"),
            Some((&id, &secret)),
            &[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", CB),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("max_age", "later"),
            ],
        )
        .await;
        assert_eq!(status, 400, "{pushed}");
        assert!(
            pushed["error_description"]
                .as_str()
                .unwrap()
                .contains("max_age")
        );
    })
    .await;
}
