//! Refresh-token rotation, the reuse grace window and family revocation (RFC 9700 §4.14).

use crate::browser::obtain_code;
use crate::harness::{TestHub, on_every_backend, post_form};

const CB: &str = "http://127.0.0.1:9/callback";

async fn tokens(hub: &TestHub, id: &str, secret: &str) -> serde_json::Value {
    let (code, verifier) = obtain_code(hub, id, CB, "read write").await;
    let (status, _, body) = post_form(
        &hub.url("/oauth2/token"),
        Some((id, secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn refresh(
    hub: &TestHub,
    id: &str,
    secret: &str,
    token: &str,
    scope: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let (status, _, body) = post_form(&hub.url("/oauth2/token"), Some((id, secret)), &form).await;
    (status, body)
}

async fn active(hub: &TestHub, id: &str, secret: &str, token: &str) -> bool {
    let (_, _, body) = post_form(
        &hub.url("/oauth2/introspect"),
        Some((id, secret)),
        &[("token", token)],
    )
    .await;
    body["active"].as_bool().unwrap()
}

#[tokio::test]
async fn rotation_grace_and_reuse_detection() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "read write",
                &[CB],
            )
            .await;
        let first = tokens(hub, &id, &secret).await;
        let r1 = first["refresh_token"].as_str().unwrap().to_string();
        assert!(active(hub, &id, &secret, &r1).await);

        let (status, second) = refresh(hub, &id, &secret, &r1, None).await;
        assert_eq!(status, 200, "{second}");
        let r2 = second["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(r1, r2);
        assert_eq!(second["scope"], "read write");

        // A concurrent refresh with the same token inside the grace window is not theft.
        hub.clock.advance_ms(1_000);
        let (status, racer) = refresh(hub, &id, &secret, &r1, None).await;
        assert_eq!(status, 200, "{racer}");

        // After the window, reuse of the rotated token revokes the whole family.
        hub.clock.advance_ms(1_500);
        assert!(
            !active(hub, &id, &secret, &r1).await,
            "rotated token is inactive"
        );
        let (status, body) = refresh(hub, &id, &secret, &r1, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        for token in [&r2, racer["refresh_token"].as_str().unwrap()] {
            let (status, _) = refresh(hub, &id, &secret, token, None).await;
            assert_eq!(status, 400, "family members are dead");
        }
        for access in [
            &first["access_token"],
            &second["access_token"],
            &racer["access_token"],
        ] {
            assert!(
                !active(hub, &id, &secret, access.as_str().unwrap()).await,
                "family access tokens are revoked"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn refresh_may_narrow_but_not_widen_scope() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "read write admin",
                &[CB],
            )
            .await;
        let first = tokens(hub, &id, &secret).await;
        let r1 = first["refresh_token"].as_str().unwrap();
        let (status, body) = refresh(hub, &id, &secret, r1, Some("read admin")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_scope"))
        );
        // The failed attempt changed nothing: the token still works.
        let (status, body) = refresh(hub, &id, &secret, r1, Some("read")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "read");
    })
    .await;
}

#[tokio::test]
async fn another_client_cannot_use_or_revoke_my_refresh_token() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "read write",
                &[CB],
            )
            .await;
        let (other, other_secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "read write",
                &[CB],
            )
            .await;
        let first = tokens(hub, &id, &secret).await;
        let r1 = first["refresh_token"].as_str().unwrap();
        let (status, body) = refresh(hub, &other, &other_secret, r1, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, _, _) = post_form(
            &hub.url("/oauth2/revoke"),
            Some((&other, &other_secret)),
            &[("token", r1)],
        )
        .await;
        // Answered as for an unknown token: a stranger learns nothing (RFC 7009 §2.2).
        assert_eq!(status, 200);
        assert!(active(hub, &id, &secret, r1).await);
    })
    .await;
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_family() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(
                &["authorization_code", "refresh_token"],
                "read write",
                &[CB],
            )
            .await;
        let first = tokens(hub, &id, &secret).await;
        let r1 = first["refresh_token"].as_str().unwrap();
        let (status, headers, _) = post_form(
            &hub.url("/oauth2/revoke"),
            Some((&id, &secret)),
            &[("token", r1), ("token_type_hint", "refresh_token")],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(headers["cache-control"], "no-store");
        assert!(!active(hub, &id, &secret, r1).await);
        assert!(!active(hub, &id, &secret, first["access_token"].as_str().unwrap()).await);
        let (status, _) = refresh(hub, &id, &secret, r1, None).await;
        assert_eq!(status, 400);
        // Revoking again, or an unknown token, is still 200 (RFC 7009 §2.2).
        let (status, _, _) = post_form(
            &hub.url("/oauth2/revoke"),
            Some((&id, &secret)),
            &[("token", r1)],
        )
        .await;
        assert_eq!(status, 200);
        let (status, _, body) = post_form(
            &hub.url("/oauth2/revoke"),
            Some((&id, &secret)),
            &[("token", "x"), ("token_type_hint", "bogus")],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unsupported_token_type"))
        );
    })
    .await;
}
