//! Toki identities at the hub: registration (all backends) and `GET /toki/v1/peers/{id}`.

use std::sync::Arc;

use keyway_toki::{ServiceId, TokiKeyPair, TokiPublicKey};
use keyway_toki_http::{HubCredentials, HubPeerKeys, HubSession};

use crate::harness::{TestHub, client_credentials_token, http, on_every_backend};

fn key(seed: u8) -> TokiPublicKey {
    TokiKeyPair::from_seed(&[seed; 32]).unwrap().public_key()
}

async fn get(hub: &TestHub, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = http().get(hub.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn toki_keys_are_registered_replaced_and_served() {
    on_every_backend(async |hub: &TestHub| {
        let (orders, orders_secret) = hub
            .client(&["client_credentials"], "toki:peers ledger:call", &[])
            .await;
        let (ledger, ledger_secret) = hub.client(&["client_credentials"], "audit", &[]).await;
        hub.auth
            .set_toki_key(&ledger, &key(1).to_string())
            .await
            .unwrap();
        // Re-registering replaces (rotation).
        hub.auth
            .set_toki_key(&ledger, &key(2).to_string())
            .await
            .unwrap();
        assert!(
            hub.auth
                .set_toki_key("nobody", &key(3).to_string())
                .await
                .is_err()
        );

        let token = client_credentials_token(hub, &orders, &orders_secret).await;
        let (status, body) = get(hub, &format!("/toki/v1/peers/{ledger}"), Some(&token)).await;
        assert_eq!(status, 200, "{body} on {}", hub.backend);
        assert_eq!(body["toki_key"], key(2).to_string());
        assert_eq!(body["scope"], "audit");
        assert_eq!(body["client_id"], ledger.as_str());
        // No toki key, unknown client: the same 404.
        let (status, _) = get(hub, &format!("/toki/v1/peers/{orders}"), Some(&token)).await;
        assert_eq!(status, 404);
        let (status, _) = get(hub, "/toki/v1/peers/nobody", Some(&token)).await;
        assert_eq!(status, 404);
        let (status, _) = get(hub, &format!("/toki/v1/peers/{ledger}"), None).await;
        assert_eq!(status, 401);
        let weak = client_credentials_token(hub, &ledger, &ledger_secret).await;
        let (status, _) = get(hub, &format!("/toki/v1/peers/{ledger}"), Some(&weak)).await;
        assert_eq!(status, 403);

        // The service-side cache sees what the hub has.
        let session = HubSession::new(
            http(),
            HubCredentials {
                hub_url: hub.base.clone(),
                client_id: orders.clone(),
                client_secret: orders_secret.clone(),
                scope: "toki:peers".into(),
            },
        );
        let peers = HubPeerKeys::new(Arc::new(session));
        let ledger_id = ServiceId::new(ledger.clone()).unwrap();
        let peer = peers.fetch(&ledger_id).await.unwrap().unwrap();
        assert_eq!(peer.key, key(2));
        assert!(peers.has_scope(&ledger_id, "audit"));
        assert!(!peers.has_scope(&ledger_id, "toki:peers"));

        // Deleting the client deletes its toki key.
        hub.auth.delete_client(&ledger).await.unwrap();
        let (status, _) = get(hub, &format!("/toki/v1/peers/{ledger}"), Some(&token)).await;
        assert_eq!(status, 404, "on {}", hub.backend);
    })
    .await;
}
