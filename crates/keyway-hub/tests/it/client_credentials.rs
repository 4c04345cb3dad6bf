use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

use crate::harness::{TestHub, http, on_every_backend, post_form};

/// Verifies an access token with an independent JOSE library from the published JWKS.
pub(crate) async fn verify_with_jwks(
    hub: &TestHub,
    token: &str,
    audience: &str,
) -> serde_json::Value {
    assert_eq!(decode_header(token).unwrap().typ.as_deref(), Some("at+jwt"));
    verify_jwt_with_jwks(hub, token, audience).await
}

/// Verifies any JWT the hub signed (EdDSA, a published `kid`, `iss`, `aud`, `exp`) with an
/// independent JOSE library from the published JWKS; its claims.
pub(crate) async fn verify_jwt_with_jwks(
    hub: &TestHub,
    token: &str,
    audience: &str,
) -> serde_json::Value {
    let jwks: JwkSet = http()
        .get(hub.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[hub.base.as_str()]);
    decode::<serde_json::Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn issues_rfc9068_tokens_that_verify_from_the_jwks() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read write", &[]).await;
        let (status, headers, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", hub.backend);
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["pragma"], "no-cache");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "read");
        assert_eq!(body["expires_in"], 900);
        assert!(body.get("refresh_token").is_none());
        let claims = verify_with_jwks(hub, body["access_token"].as_str().unwrap(), &hub.base).await;
        assert_eq!(claims["sub"], id.as_str());
        assert_eq!(claims["client_id"], id.as_str());
        assert_eq!(claims["scope"], "read");
        for claim in ["iat", "exp", "jti"] {
            assert!(claims.get(claim).is_some(), "missing {claim}");
        }
    })
    .await;
}

#[tokio::test]
async fn client_secret_post_and_default_scope() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "b a", &[]).await;
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["scope"], "a b");
    })
    .await;
}

#[tokio::test]
async fn resource_indicators_become_the_audience() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://api.example.com/"),
                ("resource", "https://files.example.com/"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let claims = verify_with_jwks(
            hub,
            body["access_token"].as_str().unwrap(),
            "https://files.example.com/",
        )
        .await;
        assert_eq!(
            claims["aud"],
            serde_json::json!(["https://api.example.com/", "https://files.example.com/"])
        );

        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("resource", "not a uri"),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target"))
        );
    })
    .await;
}

#[tokio::test]
async fn scopes_outside_the_client_allowance_are_refused() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub.client(&["client_credentials"], "read", &[]).await;
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read admin"),
            ],
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "invalid_scope");
    })
    .await;
}

#[tokio::test]
async fn a_client_only_gets_the_grants_it_was_registered_for() {
    on_every_backend(async |hub: &TestHub| {
        let (id, secret) = hub
            .client(&["authorization_code"], "read", &["https://app.example/cb"])
            .await;
        let (status, _, body) = post_form(
            &hub.url("/oauth2/token"),
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unauthorized_client"))
        );
    })
    .await;
}
