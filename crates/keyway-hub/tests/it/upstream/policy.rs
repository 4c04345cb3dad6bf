//! Login types beyond the first sign-in: `type` in pushed requests, a login type taken away,
//! `prompt=login`, the provider's `auth_time`.

use super::*;

/// One sign-in of a fresh browser through the fake provider for client `id`, with the ID
/// token's claims changed by `edit`; the answer after consent (the redirect with the code).
async fn sign_in_through_fake(
    fake: &FakeUpstream,
    hub: &TestHub,
    id: &str,
    challenge: &str,
    edit: impl FnOnce(&mut Value),
) -> Page {
    let mut browser = Browser::new();
    let upstream = start(&mut browser, hub, id, challenge).await;
    let nonce = query_param(&upstream, "nonce").unwrap();
    let state = query_param(&upstream, "state").unwrap();
    let mut claims = fake.claims(&nonce, hub.clock.now_ms() / 1000);
    edit(&mut claims);
    fake.answer_with(&fake.sign(&claims));
    let page = callback(&mut browser, hub, &[("code", "c-1"), ("state", &state)]).await;
    allow(&mut browser, hub, page).await
}

/// Restricting a client's login types ends what an upstream sign-in already got: its code no
/// longer redeems (nor would its refresh tokens refresh).
#[tokio::test]
async fn a_login_type_taken_away_ends_what_it_issued() {
    let (fake, _dir, hub) = sqlite_hub_with_fake().await;
    let (id, secret) = client(&hub, &[]).await;
    let (verifier, challenge) = pkce();
    let done = sign_in_through_fake(&fake, &hub, &id, &challenge, |_| {}).await;
    let code = done.redirect_param("code").unwrap();
    hub.auth
        .update_client(
            &id,
            keyway_auth::ClientUpdate {
                login_types: Some(vec!["password".into()]),
                ..keyway_auth::ClientUpdate::default()
            },
        )
        .await
        .unwrap();
    hub.clock.advance_secs(2); // past the client cache
    let (status, body) = code_exchange(&hub, (&id, &secret), &code, REDIRECT, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no longer allowed")
    );
    hub.finish().await;
}

/// `prompt=login` asks for a fresh sign-in: the provider is asked for one too.
#[tokio::test]
async fn prompt_login_is_passed_to_the_provider() {
    let (_fake, _dir, hub) = sqlite_hub_with_fake().await;
    let (id, _) = client(&hub, &[]).await;
    let (_, challenge) = pkce();
    let url = format!(
        "{}&prompt=login",
        authorize(&hub, &id, &challenge, Some("corp"))
    );
    let page = Browser::new().get(&url).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(
        query_param(&page.location.unwrap(), "prompt").as_deref(),
        Some("login")
    );
    hub.finish().await;
}

/// The sign-in happened at the provider: a plausible upstream `auth_time` becomes the
/// session's and the ID token's; one in the future is not believed.
#[tokio::test]
async fn the_providers_auth_time_is_the_sign_ins() {
    let (fake, _dir, hub) = sqlite_hub_with_fake().await;
    let (id, secret) = client(&hub, &[]).await;
    for (offset, expect_offset) in [(-3600, -3600), (3600, 0)] {
        let (verifier, challenge) = pkce();
        let now = hub.clock.now_ms() / 1000;
        let done = sign_in_through_fake(&fake, &hub, &id, &challenge, |claims| {
            claims["auth_time"] = json!(now + offset);
        })
        .await;
        let code = done.redirect_param("code").unwrap();
        let (status, body) = code_exchange(&hub, (&id, &secret), &code, REDIRECT, &verifier).await;
        assert_eq!(status, 200, "{body}");
        let id_token = claims_of(body["id_token"].as_str().unwrap());
        assert_eq!(
            id_token["auth_time"],
            json!(now + expect_offset),
            "offset {offset}"
        );
    }
    hub.finish().await;
}

async fn push(
    hub: &TestHub,
    basic: (&str, &str),
    challenge: &str,
    login_type: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let form = [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("type", login_type),
    ];
    crate::harness::post_form(&hub.url("/oauth2/par"), Some(basic), &form).await
}

/// `type` travels in a pushed request (RFC 9126) like any parameter, and a bad one is
/// refused at the push.
#[tokio::test]
async fn a_pushed_request_carries_the_login_type() {
    let (fake, _dir, hub) = sqlite_hub_with_fake().await;
    let (id, secret) = client(&hub, &["corp"]).await;
    let (_, challenge) = pkce();
    let (status, _, body) = push(&hub, (&id, &secret), &challenge, "password").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("\"password\""),
        "{body}"
    );
    let (status, _, body) = push(&hub, (&id, &secret), &challenge, "corp").await;
    assert_eq!(status, 201, "{body}");
    let mut url = url::Url::parse(&hub.url("/oauth2/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &id)
        .append_pair("request_uri", body["request_uri"].as_str().unwrap());
    let page = Browser::new().get(url.as_str()).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert!(
        page.location
            .unwrap()
            .starts_with(&format!("{}/authorize?", fake.issuer))
    );
    hub.finish().await;
}
