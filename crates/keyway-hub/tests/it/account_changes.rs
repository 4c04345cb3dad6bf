//! What a running hub does when an operator changes a client or a user (`keyway client
//! update`, `keyway user set-password`).

use keyway_auth::{ClientUpdate, SecretString};

use crate::browser::{Browser, authorize_url, log_in_and_allow, obtain_code, pkce};
use crate::harness::{
    TestHub, client_credentials_token, code_exchange, on_every_backend, post_form,
};

const REDIRECT: &str = "http://127.0.0.1:9/cb";

/// A scope taken from a client is not granted again by refreshing an older grant.
#[tokio::test]
async fn a_refresh_drops_scopes_the_client_lost() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "openid invoices.read invoices.write",
                &[REDIRECT],
            )
            .await;
        let (code, verifier) =
            obtain_code(hub, &id, REDIRECT, "openid invoices.read invoices.write").await;
        let (status, tokens) = code_exchange(hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        hub.auth
            .update_client(
                &id,
                ClientUpdate {
                    scope: Some("openid invoices.read".into()),
                    ..ClientUpdate::default()
                },
            )
            .await
            .unwrap();
        let (status, _, refreshed) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        assert_eq!(status, 200, "{refreshed}");
        assert_eq!(refreshed["scope"], "invoices.read openid");
    })
    .await;
}

/// A new password works at once, the old one no longer does, and sessions signed in with the
/// old one have ended.
#[tokio::test]
async fn a_new_password_ends_old_sessions() {
    on_every_backend(async |hub: &TestHub| {
        let (id, _secret) = hub
            .client(&["authorization_code"], "openid", &[REDIRECT])
            .await;
        hub.user("alice", "correct horse battery").await;
        let (_, challenge) = pkce();
        let authorize = authorize_url(hub, &id, REDIRECT, "openid", &challenge);
        let mut signed_in = Browser::new();
        let done = log_in_and_allow(
            &mut signed_in,
            hub,
            &authorize,
            "alice",
            "correct horse battery",
        )
        .await;
        assert_eq!(done.status, 303);
        // Signed in: the next authorization goes straight through.
        assert_eq!(signed_in.get(&authorize).await.status, 302);

        hub.auth
            .set_password(
                "alice",
                &SecretString::new("a brand new password".into()),
                false,
            )
            .await
            .unwrap();
        let page = signed_in.get(&authorize).await;
        assert_eq!(page.status, 200, "the old session must have ended");

        let mut old = Browser::new();
        let login = old.get(&authorize).await;
        let refused = old
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
        assert_eq!(refused.status, 401, "the old password must not sign in");
        let mut new = Browser::new();
        let done =
            log_in_and_allow(&mut new, hub, &authorize, "alice", "a brand new password").await;
        assert_eq!(done.status, 303);
    })
    .await;
}

/// An access token issued before a scope was taken from its client no longer carries it at
/// the hub (introspection and the hub's own APIs), though the signed token still names it.
#[tokio::test]
async fn an_access_token_loses_scopes_the_client_lost() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(&["client_credentials"], "invoices.read invoices.write", &[])
            .await;
        let token = client_credentials_token(hub, &id, &secret).await;
        hub.auth
            .update_client(
                &id,
                ClientUpdate {
                    scope: Some("invoices.read".into()),
                    ..ClientUpdate::default()
                },
            )
            .await
            .unwrap();
        let (status, _, answer) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&id, &secret)),
            &[("token", &token)],
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["active"], true);
        assert_eq!(answer["scope"], "invoices.read");
    })
    .await;
}

/// `set-password --revoke-tokens`: every token issued for the user stops working.
#[tokio::test]
async fn a_password_reset_can_revoke_every_token() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "openid",
                &[REDIRECT],
            )
            .await;
        let (code, verifier) = obtain_code(hub, &id, REDIRECT, "openid").await;
        let (status, tokens) = code_exchange(hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        hub.auth
            .set_password("alice", &SecretString::new("after the breach".into()), true)
            .await
            .unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (status, _, refused) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let access = tokens["access_token"].as_str().unwrap();
        let (_, _, answer) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&id, &secret)),
            &[("token", access)],
        )
        .await;
        assert_eq!(answer["active"], false, "{answer}");
    })
    .await;
}

/// `keyway user sessions` lists a user's live sessions; `keyway user logout` ends them all
/// (the browser must sign in again) and, with `--revoke-tokens`, revokes their tokens — also
/// the `offline_access` ones, which outlive a plain logout.
#[tokio::test]
async fn an_operator_can_list_and_end_a_users_sessions() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "openid offline_access",
                &[REDIRECT],
            )
            .await;
        let (code, verifier) = obtain_code(hub, &id, REDIRECT, "openid offline_access").await;
        let (status, tokens) = code_exchange(hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        let sessions = hub.auth.user_sessions("alice").await.unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].login_method, "password");
        assert_eq!(sessions[0].id.len(), 12);
        assert_eq!(hub.auth.logout_user("alice", false).await.unwrap(), 1);
        assert!(hub.auth.user_sessions("alice").await.unwrap().is_empty());
        assert_eq!(hub.count_rows("login_sessions").await, 0);
        // Without --revoke-tokens the application's offline tokens live on; with it they do not.
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let refresh_with = async |token: &str| {
            post_form(
                &hub.url("/oauth2/token"),
                Some((&id, &secret)),
                &[("grant_type", "refresh_token"), ("refresh_token", token)],
            )
            .await
        };
        let (status, _, renewed) = refresh_with(refresh).await;
        assert_eq!(status, 200, "{renewed}");
        assert_eq!(hub.auth.logout_user("alice", true).await.unwrap(), 0);
        let (status, _, _) = refresh_with(renewed["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 400);
        assert!(hub.auth.logout_user("nobody", false).await.is_err());
    })
    .await;
}

fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// A user's profile reaches ID tokens and UserInfo by scope (OIDC Core §5.4); a disabled
/// user cannot sign in and nothing issued for them renews, until enabled again.
#[tokio::test]
async fn profiles_by_scope_and_disabled_users() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "openid profile email",
                &[REDIRECT],
            )
            .await;
        hub.user("alice", "correct horse battery").await;
        hub.auth
            .update_user(
                "alice",
                keyway_auth::ProfileUpdate {
                    email: Some("alice@example.com".into()),
                    email_verified: Some(true),
                    name: Some("Alice Liddell".into()),
                    ..keyway_auth::ProfileUpdate::default()
                },
            )
            .await
            .unwrap();
        let bad = keyway_auth::ProfileUpdate {
            email: Some("not an address".into()),
            ..keyway_auth::ProfileUpdate::default()
        };
        assert!(hub.auth.update_user("alice", bad).await.is_err());

        let (code, verifier) =
            crate::browser::obtain_code_as_alice(hub, &id, REDIRECT, "openid email").await;
        let (status, tokens) = code_exchange(hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(claims["email"], "alice@example.com", "{claims}");
        assert_eq!(claims["email_verified"], true);
        assert!(claims.get("name").is_none(), "no profile scope: {claims}");
        let info = crate::harness::get_json(
            hub,
            "/oauth2/userinfo",
            Some(tokens["access_token"].as_str().unwrap()),
        )
        .await;
        assert_eq!(info["email"], "alice@example.com", "{info}");
        assert!(info.get("name").is_none());

        hub.auth.disable_user("alice").await.unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (status, _, _) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(status, 400, "a disabled user's tokens do not renew");
        let (_, challenge) = pkce();
        let mut browser = Browser::new();
        let url = authorize_url(hub, &id, REDIRECT, "openid", &challenge);
        let refused =
            crate::browser::log_in(&mut browser, hub, &url, "alice", "correct horse battery").await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert!(hub.auth.show_user("alice").await.unwrap().disabled);
        hub.auth.enable_user("alice").await.unwrap();
        let (code, _) = crate::browser::obtain_code_as_alice(hub, &id, REDIRECT, "openid").await;
        assert!(!code.is_empty());
    })
    .await;
}

/// The Aliconnect rule (issue 20): a scope marked user-granted reaches a user's token only if
/// the user holds it, directly or through a group; the consent page says what is withheld, and
/// a scope taken away is not renewed.
#[tokio::test]
async fn user_granted_scopes_follow_the_user() {
    for backend in crate::harness::backends() {
        let hub = TestHub::start_with(&backend, |config| {
            config.user_granted_scopes = vec!["contact.*".into()];
        })
        .await;
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "openid contact.read contact.readwrite",
                &[REDIRECT],
            )
            .await;
        hub.user("alice", "correct horse battery").await;
        hub.auth
            .grant_user_scopes("alice", "contact.read")
            .await
            .unwrap();
        // The consent page offers only what alice holds and says what is withheld.
        let (verifier, challenge) = pkce();
        let mut browser = Browser::new();
        let url = authorize_url(
            &hub,
            &id,
            REDIRECT,
            "openid contact.read contact.readwrite",
            &challenge,
        );
        let consent =
            crate::browser::log_in(&mut browser, &hub, &url, "alice", "correct horse battery")
                .await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        assert!(consent.body.contains("<code>contact.read</code>"));
        assert!(
            consent.body.contains("Not given") && consent.body.contains("contact.readwrite"),
            "{}",
            consent.body
        );
        let done = browser
            .post(
                &hub.url("/oauth2/consent"),
                &[
                    ("request_id", &consent.field("request_id")),
                    ("csrf", &consent.field("csrf")),
                    ("decision", "allow"),
                ],
            )
            .await;
        let code = done.redirect_param("code").unwrap();
        let (status, tokens) =
            code_exchange(&hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["scope"], "contact.read openid", "{tokens}");

        // Through a group: staff members hold contact.readwrite.
        hub.auth.create_group("staff").await.unwrap();
        hub.auth
            .grant_group_scopes("staff", "contact.readwrite")
            .await
            .unwrap();
        hub.auth.add_group_member("staff", "alice").await.unwrap();
        let (code, verifier) = crate::browser::obtain_code_as_alice(
            &hub,
            &id,
            REDIRECT,
            "openid contact.read contact.readwrite",
        )
        .await;
        let (_, tokens) = code_exchange(&hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(
            tokens["scope"], "contact.read contact.readwrite openid",
            "{tokens}"
        );
        // Taken away: the refresh no longer carries it.
        hub.auth
            .revoke_group_scopes("staff", "contact.readwrite")
            .await
            .unwrap();
        let (status, _, renewed) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(status, 200, "{renewed}");
        assert_eq!(renewed["scope"], "contact.read openid", "{renewed}");
        // Taken between the code and its exchange: the exchange does not give it either.
        hub.auth
            .grant_group_scopes("staff", "contact.readwrite")
            .await
            .unwrap();
        let (code, verifier) = crate::browser::obtain_code_as_alice(
            &hub,
            &id,
            REDIRECT,
            "openid contact.read contact.readwrite",
        )
        .await;
        hub.auth
            .revoke_group_scopes("staff", "contact.readwrite")
            .await
            .unwrap();
        let (_, tokens) = code_exchange(&hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(tokens["scope"], "contact.read openid", "{tokens}");
        // Usernames that look like another one are refused.
        let lookalike = keyway_auth::NewUser {
            username: "ali\u{200B}ce".into(),
            password: SecretString::new("correct horse battery".into()),
        };
        assert!(hub.auth.create_user(lookalike).await.is_err());
        hub.finish().await;
    }
}

/// The `groups` scope puts the names of the user's groups in the ID token and UserInfo.
#[tokio::test]
async fn the_groups_claim() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(&["authorization_code"], "openid groups", &[REDIRECT])
            .await;
        hub.user("alice", "correct horse battery").await;
        hub.auth.create_group("staff").await.unwrap();
        hub.auth.add_group_member("staff", "alice").await.unwrap();
        let (code, verifier) =
            crate::browser::obtain_code_as_alice(hub, &id, REDIRECT, "openid groups").await;
        let (status, tokens) = code_exchange(hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(claims["groups"], serde_json::json!(["staff"]), "{claims}");
        let info = crate::harness::get_json(
            hub,
            "/oauth2/userinfo",
            Some(tokens["access_token"].as_str().unwrap()),
        )
        .await;
        assert_eq!(info["groups"], serde_json::json!(["staff"]), "{info}");
    })
    .await;
}
