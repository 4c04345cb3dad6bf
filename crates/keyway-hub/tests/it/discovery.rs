//! Discovery documents (snapshots), JWKS, health and metrics.

use keyway_auth::AuthConfig;
use keyway_hub::{authorization_server_metadata, openid_configuration};

use crate::harness::{TestHub, http, on_every_backend};

#[test]
fn rfc8414_metadata_snapshot() {
    insta::assert_json_snapshot!(authorization_server_metadata(&AuthConfig::new(
        "https://hub.example.com"
    )));
}

#[test]
fn openid_configuration_snapshot() {
    insta::assert_json_snapshot!(openid_configuration(&AuthConfig::new(
        "https://hub.example.com"
    )));
}

#[tokio::test]
async fn documents_are_served_and_consistent() {
    on_every_backend(async |hub: &TestHub| {
        for path in [
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ] {
            let response = http().get(hub.url(path)).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json")
            );
            let doc: serde_json::Value = response.json().await.unwrap();
            assert_eq!(doc["issuer"], hub.base.as_str());
            // Every endpoint named in the metadata answers (not 404).
            for key in [
                "jwks_uri",
                "token_endpoint",
                "introspection_endpoint",
                "revocation_endpoint",
            ] {
                let url = doc[key].as_str().unwrap();
                let status = http().get(url).send().await.unwrap().status().as_u16();
                assert_ne!(status, 404, "{key} {url}");
            }
        }
        let response = http().get(hub.url("/oauth2/jwks")).send().await.unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "application/jwk-set+json"
        );
        let jwks: serde_json::Value = response.json().await.unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "current and next key are published");
        for key in keys {
            assert!(key.get("d").is_none(), "no private material");
            assert_eq!(key["use"], "sig");
            assert_eq!(key["alg"], "EdDSA");
        }
    })
    .await;
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    on_every_backend(async |hub: &TestHub| {
        assert_eq!(
            http()
                .get(hub.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            200
        );
        let ready: serde_json::Value = http()
            .get(hub.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["status"], "ready");
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        crate::harness::client_credentials_token(hub, &id, &secret).await;
        let metrics = crate::harness::metrics_text(hub).await;
        assert!(metrics.contains("keyway_tokens_issued_total"), "{metrics}");
        assert!(metrics.contains("keyway_http_requests_total"));
        let missing = http().get(hub.url("/nope")).send().await.unwrap();
        assert_eq!(missing.status().as_u16(), 404);
        assert_eq!(
            missing.headers()["content-type"],
            "application/problem+json"
        );
    })
    .await;
}
