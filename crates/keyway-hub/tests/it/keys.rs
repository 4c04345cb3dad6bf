//! Signing-key rotation: publish before signing, keep retired keys until their tokens expire.

use keyway_auth::SigningAlg;

use crate::harness::{
    Backend, TestHub, backends, client_credentials_token, http, on_every_backend, post_form,
};

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn published(hub: &TestHub) -> Vec<String> {
    let jwks: serde_json::Value = http()
        .get(hub.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn rotation_publishes_first_and_keeps_retired_keys_until_expiry() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let old_token = client_credentials_token(hub, &id, &secret).await;
        let old_kid = kid_of(&old_token);
        let next = hub.auth.keys().next_kid().unwrap();
        assert!(
            published(hub).await.contains(&next),
            "the next key is published before it signs"
        );

        let config = hub.auth.config().clone();
        let signing = hub.auth.rotate_signing_key().await.unwrap();
        assert_eq!(signing, next);
        let new_token = client_credentials_token(hub, &id, &secret).await;
        assert_eq!(kid_of(&new_token), next);
        let kids = published(hub).await;
        assert!(
            kids.contains(&old_kid) && kids.contains(&next) && kids.len() == 3,
            "{kids:?}"
        );
        let (_, _, body) = post_form(
            &hub.url("/oauth2/introspect"),
            Some((&id, &secret)),
            &[("token", &old_token)],
        )
        .await;
        assert_eq!(
            body["active"], true,
            "tokens of the retired key still verify"
        );

        // Once every token of the retired key has expired, the key is dropped.
        hub.clock.advance_secs(config.longest_token_lifetime() + 1);
        hub.auth.rotate_signing_key().await.unwrap();
        assert!(!published(hub).await.contains(&old_kid));
    })
    .await;
}

#[tokio::test]
async fn scheduled_rotation_happens_in_upkeep() {
    on_every_backend(async |hub: &TestHub| {
        let before = hub.auth.keys().signer().unwrap().kid().to_string();
        hub.clock
            .advance_secs(hub.auth.config().key_rotation_interval + 1);
        // The hub's own upkeep (every second, the lease holder) rotates: waited for, not
        // called beside it (one upkeep runs per process).
        let started = std::time::Instant::now();
        while hub.auth.keys().signer().unwrap().kid() == before {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "no scheduled rotation within 5 s on {}",
                hub.backend
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn es256_can_be_selected() {
    for backend in backends()
        .into_iter()
        .filter(|b| matches!(b, Backend::Sqlite))
    {
        let hub = TestHub::start_with(&backend, |c| c.signing_alg = SigningAlg::Es256).await;
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let token = client_credentials_token(&hub, &id, &secret).await;
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().alg,
            jsonwebtoken::Algorithm::ES256
        );
        hub.finish().await;
    }
}

/// Upkeep that must run once per cluster (scheduled rotation, purging) is done by the node
/// holding the lease; another takes over only once it has expired.
#[tokio::test]
async fn one_node_at_a_time_holds_the_upkeep_lease() {
    on_every_backend(async |hub: &TestHub| {
        let store = hub.auth.store();
        let name = format!("test-{}", hub.auth.clock().now_ms());
        assert!(
            store
                .try_lease(&name, "node-1", 1_000, 10_000)
                .await
                .unwrap()
        );
        // Renewed in the same millisecond (the same values written again).
        assert!(
            store
                .try_lease(&name, "node-1", 1_000, 10_000)
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_lease(&name, "node-2", 2_000, 10_000)
                .await
                .unwrap()
        );
        assert!(
            store
                .try_lease(&name, "node-1", 9_000, 10_000)
                .await
                .unwrap(),
            "renewed"
        );
        assert!(
            !store
                .try_lease(&name, "node-2", 18_000, 10_000)
                .await
                .unwrap(),
            "still held"
        );
        assert!(
            store
                .try_lease(&name, "node-2", 19_001, 10_000)
                .await
                .unwrap(),
            "expired: taken over"
        );
        assert!(
            !store
                .try_lease(&name, "node-1", 19_002, 10_000)
                .await
                .unwrap()
        );
        assert_eq!(
            store.lease_holder(&name).await.unwrap(),
            Some(("node-2".to_string(), 29_001))
        );
        // The hub's own upkeep takes the shared lease under its node id.
        assert!(hub.auth.maintain().await.unwrap());
        let (holder, _) = store.lease_holder("upkeep").await.unwrap().unwrap();
        assert_eq!(holder, hub.auth.node_id());
    })
    .await;
}
