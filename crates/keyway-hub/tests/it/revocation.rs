//! Regression tests: revocation, reuse detection and code replay when some of a family's access
//! tokens are already on the deny-list; failed code exchanges; foreign tokens at introspection
//! and revocation (RFC 7009 §2.2, RFC 7662 §2.2, RFC 9700 §4.14).

use crate::browser::{obtain_code, obtain_code_as_alice};
use crate::harness::{TestHub, code_exchange as exchange, on_every_backend, post_form};

const CB: &str = "http://127.0.0.1:9/callback";

async fn tokens(hub: &TestHub, id: &str, secret: &str) -> serde_json::Value {
    let (code, verifier) = obtain_code(hub, id, CB, "read").await;
    let (status, body) = exchange(hub, (id, secret), &code, CB, &verifier).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn revoke(hub: &TestHub, id: &str, secret: &str, token: &str) -> u16 {
    post_form(
        &hub.url("/oauth2/revoke"),
        Some((id, secret)),
        &[("token", token)],
    )
    .await
    .0
}

async fn refresh(hub: &TestHub, id: &str, secret: &str, token: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = post_form(
        &hub.url("/oauth2/token"),
        Some((id, secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await;
    (status, body)
}

async fn introspect(hub: &TestHub, id: &str, secret: &str, token: &str) -> serde_json::Value {
    post_form(
        &hub.url("/oauth2/introspect"),
        Some((id, secret)),
        &[("token", token)],
    )
    .await
    .2
}

async fn code_client(hub: &TestHub) -> (String, String) {
    hub.client(&["authorization_code", "refresh_token"], "read", &[CB])
        .await
}

#[tokio::test]
async fn revoking_a_refresh_token_after_one_of_its_access_tokens_kills_the_family() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = code_client(hub).await;
        let first = tokens(hub, &id, &secret).await;
        let access = first["access_token"].as_str().unwrap();
        let refresh_token = first["refresh_token"].as_str().unwrap();
        assert_eq!(revoke(hub, &id, &secret, access).await, 200);
        assert_eq!(revoke(hub, &id, &secret, refresh_token).await, 200);
        let (status, body) = refresh(hub, &id, &secret, refresh_token).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    })
    .await;
}

#[tokio::test]
async fn reuse_detection_kills_a_family_with_an_access_token_already_revoked() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = code_client(hub).await;
        let first = tokens(hub, &id, &secret).await;
        let r1 = first["refresh_token"].as_str().unwrap();
        assert_eq!(
            revoke(hub, &id, &secret, first["access_token"].as_str().unwrap()).await,
            200
        );
        let (status, second) = refresh(hub, &id, &secret, r1).await;
        assert_eq!(status, 200, "{second}");
        let r2 = second["refresh_token"].as_str().unwrap();
        hub.clock.advance_secs(60);
        // Reuse of the rotated token: invalid_grant, and the family is dead.
        let (status, body) = refresh(hub, &id, &secret, r1).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, _) = refresh(hub, &id, &secret, r2).await;
        assert_eq!(status, 400, "the family's newest token died with it");
        let second_access = second["access_token"].as_str().unwrap();
        assert_eq!(
            introspect(hub, &id, &secret, second_access).await,
            serde_json::json!({"active": false})
        );
    })
    .await;
}

#[tokio::test]
async fn code_replay_kills_a_family_with_an_access_token_already_revoked() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = code_client(hub).await;
        let (code, verifier) = obtain_code(hub, &id, CB, "read").await;
        let (status, first) = exchange(hub, (&id, &secret), &code, CB, &verifier).await;
        assert_eq!(status, 200, "{first}");
        let access = first["access_token"].as_str().unwrap();
        assert_eq!(revoke(hub, &id, &secret, access).await, 200);
        let (status, body) = exchange(hub, (&id, &secret), &code, CB, &verifier).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, _) =
            refresh(hub, &id, &secret, first["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 400, "a replayed code revokes what it issued");
    })
    .await;
}

#[tokio::test]
async fn a_failed_code_exchange_does_not_burn_the_code() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = code_client(hub).await;
        let (code, verifier) = obtain_code(hub, &id, CB, "read").await;
        let (status, body) = exchange(
            hub,
            (&id, &secret),
            &code,
            CB,
            "wrong-verifier-wrong-verifier-wrong-verifier",
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, body) = exchange(
            hub,
            (&id, &secret),
            &code,
            "http://127.0.0.1:9/other",
            &verifier,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        // Another client presenting the code changes nothing either.
        let (other, other_secret) = code_client(hub).await;
        let (status, _) = exchange(hub, (&other, &other_secret), &code, CB, &verifier).await;
        assert_eq!(status, 400);
        let (status, body) = exchange(hub, (&id, &secret), &code, CB, &verifier).await;
        assert_eq!(status, 200, "the real exchange still works: {body}");
    })
    .await;
}

#[tokio::test]
async fn foreign_refresh_tokens_are_neither_revealed_nor_confirmed() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = code_client(hub).await;
        let (other, other_secret) = code_client(hub).await;
        let first = tokens(hub, &id, &secret).await;
        let r1 = first["refresh_token"].as_str().unwrap();
        assert_eq!(
            introspect(hub, &other, &other_secret, r1).await,
            serde_json::json!({"active": false})
        );
        // Revocation by a stranger answers as for an unknown token and changes nothing.
        assert_eq!(revoke(hub, &other, &other_secret, r1).await, 200);
        let access = first["access_token"].as_str().unwrap();
        assert_eq!(revoke(hub, &other, &other_secret, access).await, 200);
        assert_eq!(introspect(hub, &id, &secret, r1).await["active"], true);
        assert_eq!(introspect(hub, &id, &secret, access).await["active"], true);
        let (status, body) = refresh(hub, &id, &secret, r1).await;
        assert_eq!(status, 200, "{body}");
    })
    .await;
}

/// A revocation racing a refresh, and two redemptions of one code racing each other, leave no
/// live token behind (each run is a fresh race; some orders only show up now and then).
#[tokio::test]
async fn concurrent_revocations_and_replays_leave_no_live_token() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = code_client(hub).await;
        hub.user("alice", "correct horse battery").await;
        let tokens = async || {
            let (code, verifier) = obtain_code_as_alice(hub, &id, CB, "read").await;
            let (status, body) = exchange(hub, (&id, &secret), &code, CB, &verifier).await;
            assert_eq!(status, 200, "{body}");
            body
        };
        for _ in 0..10 {
            let first = tokens().await;
            let r1 = first["refresh_token"].as_str().unwrap();
            let (revoked, (status, refreshed)) = tokio::join!(
                revoke(hub, &id, &secret, r1),
                refresh(hub, &id, &secret, r1)
            );
            assert_eq!(revoked, 200);
            if status == 200 {
                let access = refreshed["access_token"].as_str().unwrap();
                assert_eq!(
                    introspect(hub, &id, &secret, access).await["active"],
                    false,
                    "a refresh racing the revocation left a live access token"
                );
                let r2 = refreshed["refresh_token"].as_str().unwrap();
                assert_eq!(refresh(hub, &id, &secret, r2).await.0, 400);
            }
        }
        for _ in 0..10 {
            let (code, verifier) = obtain_code_as_alice(hub, &id, CB, "read").await;
            let (a, b) = tokio::join!(
                exchange(hub, (&id, &secret), &code, CB, &verifier),
                exchange(hub, (&id, &secret), &code, CB, &verifier)
            );
            for (status, body) in [a, b] {
                if status != 200 {
                    continue;
                }
                let access = body["access_token"].as_str().unwrap();
                assert_eq!(
                    introspect(hub, &id, &secret, access).await["active"],
                    false,
                    "a replayed code left the first redemption's access token live"
                );
                let refresh_token = body["refresh_token"].as_str().unwrap();
                assert_eq!(refresh(hub, &id, &secret, refresh_token).await.0, 400);
            }
        }
    })
    .await;
}
