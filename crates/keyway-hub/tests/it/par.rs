//! Pushed authorization requests (RFC 9126): `POST /oauth2/par`, then `/oauth2/authorize`
//! with the `request_uri`.

use crate::browser::{Browser, log_in_and_allow, pkce};
use crate::harness::{Backend, TestHub, code_exchange, get_json, on_every_backend, post_form};

const REDIRECT: &str = "http://127.0.0.1:9/cb";
const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Pushes a code request of `id`; the answer's status and body.
async fn push(
    hub: &TestHub,
    (id, secret): (&str, &str),
    challenge: &str,
    extra: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "pushed-state"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    // An extra parameter replaces the default of the same name.
    form.retain(|(name, _)| !extra.iter().any(|(n, _)| n == name));
    form.extend_from_slice(extra);
    let (status, _, body) = post_form(&hub.url("/oauth2/par"), Some((id, secret)), &form).await;
    (status, body)
}

fn authorize_with(hub: &TestHub, client_id: &str, request_uri: &str) -> String {
    let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    url.to_string()
}

#[tokio::test]
async fn a_pushed_request_signs_in_once_and_yields_a_code() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(&["authorization_code"], "openid", &[REDIRECT])
            .await;
        hub.user("alice", "correct horse battery").await;
        let (verifier, challenge) = pkce();
        let (status, pushed) = push(hub, (&id, &secret), &challenge, &[]).await;
        assert_eq!(status, 201, "{pushed}");
        let request_uri = pushed["request_uri"].as_str().unwrap().to_string();
        assert!(request_uri.starts_with(PREFIX), "{request_uri}");
        assert_eq!(pushed["expires_in"], 60);

        // Parameters in the query other than client_id are ignored: the pushed ones count.
        let authorize = format!(
            "{}&state=from-the-query",
            authorize_with(hub, &id, &request_uri)
        );
        let mut browser = Browser::new();
        let done = log_in_and_allow(
            &mut browser,
            hub,
            &authorize,
            "alice",
            "correct horse battery",
        )
        .await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(
            done.redirect_param("state").as_deref(),
            Some("pushed-state")
        );
        let code = done.redirect_param("code").unwrap();
        let (status, tokens) = code_exchange(hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{tokens}");

        // Used once: the same request_uri again is refused on a page (nothing redirected).
        let again = Browser::new()
            .get(&authorize_with(hub, &id, &request_uri))
            .await;
        assert_eq!(again.status, 400, "{}", again.body);
        assert!(again.body.contains("invalid_request_uri"), "{}", again.body);
    })
    .await;
}

#[tokio::test]
async fn bad_pushes_and_foreign_or_stale_request_uris_are_refused() {
    let hub = TestHub::start(&Backend::Sqlite).await;
    let (id, secret) = hub
        .client(&["authorization_code"], "openid", &[REDIRECT])
        .await;
    let (other, other_secret) = hub
        .client(&["authorization_code"], "openid", &[REDIRECT])
        .await;
    let (_, challenge) = pkce();

    // Client authentication as at the token endpoint.
    let (status, body) = push(&hub, (&id, "wrong"), &challenge, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // The rules of /authorize, answered as JSON.
    let big = "x".repeat(9 * 1024);
    for (extra, error) in [
        (
            vec![("redirect_uri", "https://evil.example/cb")],
            "invalid_request",
        ),
        (vec![("scope", "admin")], "invalid_scope"),
        (vec![("request_uri", "urn:x")], "invalid_request"),
        (vec![("client_id", other.as_str())], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        // Stored until used: bounded (a public client can push without a secret).
        (vec![("login_hint", big.as_str())], "invalid_request"),
    ] {
        let (status, body) = push(&hub, (&id, &secret), &challenge, &extra).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{extra:?}: {body}"
        );
    }
    assert_eq!(hub.count_rows("pushed_requests").await, 0);

    // A request_uri is bound to the client that pushed it, never fetched, and expires.
    let (_, pushed) = push(&hub, (&id, &secret), &challenge, &[]).await;
    let request_uri = pushed["request_uri"].as_str().unwrap().to_string();
    for (client, uri) in [
        (other.as_str(), request_uri.as_str()),
        (id.as_str(), "https://attacker.example/request.jwt"),
        (id.as_str(), "urn:ietf:params:oauth:request_uri:made-up"),
    ] {
        let page = Browser::new().get(&authorize_with(&hub, client, uri)).await;
        assert_eq!(page.status, 400, "{uri}: {}", page.body);
        assert!(page.body.contains("invalid_request_uri"), "{}", page.body);
    }
    let _ = other_secret;
    hub.clock.advance_secs(61);
    let stale = Browser::new()
        .get(&authorize_with(&hub, &id, &request_uri))
        .await;
    assert_eq!(stale.status, 400);
    assert!(stale.body.contains("invalid_request_uri"), "{}", stale.body);
    hub.finish().await;
}

#[tokio::test]
async fn the_metadata_names_the_endpoint_and_a_hub_can_require_it() {
    let hub = TestHub::start_with(&Backend::Sqlite, |config| {
        config.require_pushed_requests = true;
    })
    .await;
    let metadata = get_json(&hub, "/.well-known/oauth-authorization-server", None).await;
    assert_eq!(
        metadata["pushed_authorization_request_endpoint"],
        hub.url("/oauth2/par")
    );
    assert_eq!(metadata["require_pushed_authorization_requests"], true);
    let (id, secret) = hub
        .client(&["authorization_code"], "openid", &[REDIRECT])
        .await;
    let (_, challenge) = pkce();
    let plain = crate::browser::authorize_url(&hub, &id, REDIRECT, "openid", &challenge);
    let refused = Browser::new().get(&plain).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("pushed"), "{}", refused.body);
    let (status, _) = push(&hub, (&id, &secret), &challenge, &[]).await;
    assert_eq!(status, 201);
    hub.finish().await;
}

/// A client registered with `require_pushed_requests` (`keyway client create --require-par`)
/// gets no code for a request that was not pushed; switched off, it does again.
#[tokio::test]
async fn a_client_can_require_its_requests_to_be_pushed() {
    on_every_backend(async |hub: &TestHub| {
        let policy = keyway_auth::ClientPolicy {
            require_pushed_requests: true,
            ..keyway_auth::ClientPolicy::default()
        };
        let (id, secret) = hub
            .client_with_policy(&["authorization_code"], "openid", &[REDIRECT], policy)
            .await;
        let info = hub.auth.show_client(&id).await.unwrap();
        assert!(info.require_pushed_authorization_requests);
        let (_, challenge) = pkce();
        let plain = crate::browser::authorize_url(hub, &id, REDIRECT, "openid", &challenge);
        let refused = Browser::new().get(&plain).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(
            refused.body.contains("must be pushed first"),
            "{}",
            refused.body
        );
        let (status, pushed) = push(hub, (&id, &secret), &challenge, &[]).await;
        assert_eq!(status, 201, "{pushed}");
        let uri = pushed["request_uri"].as_str().unwrap();
        assert_eq!(
            Browser::new()
                .get(&authorize_with(hub, &id, uri))
                .await
                .status,
            200
        );

        hub.auth
            .update_client(
                &id,
                keyway_auth::ClientUpdate {
                    require_pushed_requests: Some(false),
                    ..keyway_auth::ClientUpdate::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(Browser::new().get(&plain).await.status, 200);
    })
    .await;
}
