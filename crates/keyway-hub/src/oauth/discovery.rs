//! RFC 8414 authorization server metadata, OpenID Connect discovery, and the JWKS.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use keyway_auth::AuthConfig;
use serde_json::{Value, json};

use super::{AUTHORIZE, END_SESSION, INTROSPECT, JWKS, PAR, REVOKE, TOKEN, USERINFO};
use crate::AppState;

const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// The RFC 8414 document for `config`.
pub fn authorization_server_metadata(config: &AuthConfig) -> Value {
    let issuer = &config.issuer;
    let alg = config.signing_alg.as_str();
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE}"),
        "token_endpoint": format!("{issuer}{TOKEN}"),
        "jwks_uri": format!("{issuer}{JWKS}"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "query.jwt", "jwt", "form_post", "form_post.jwt"],
        "authorization_signing_alg_values_supported": [alg],
        "grant_types_supported": [
            "authorization_code",
            "client_credentials",
            "refresh_token",
            keyway_auth::TOKEN_EXCHANGE,
        ],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": keyway_auth::jose::VERIFIED_ALGS,
        "introspection_endpoint": format!("{issuer}{INTROSPECT}"),
        // g2d1's name for the one URL through which clients call each other's APIs.
        "global_url": format!("{issuer}{}", crate::GATEWAY_PATH),
        "introspection_endpoint_auth_methods_supported": &AUTH_METHODS[..3],
        "introspection_endpoint_auth_signing_alg_values_supported": keyway_auth::jose::VERIFIED_ALGS,
        "revocation_endpoint": format!("{issuer}{REVOKE}"),
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": keyway_auth::jose::VERIFIED_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "pushed_authorization_request_endpoint": format!("{issuer}{PAR}"),
        "require_pushed_authorization_requests": config.require_pushed_requests,
        "dpop_signing_alg_values_supported": keyway_auth::jose::VERIFIED_ALGS,
        "request_parameter_supported": true,
        // HS256 with a client's signing secret (clients that have one: the g2d1 profile).
        "request_object_signing_alg_values_supported": ["EdDSA", "Ed25519", "ES256", "PS256", "RS256", "HS256"],
        // Only request_uris this hub issued at its PAR endpoint; none is ever fetched.
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["openid", "profile", "email", "groups", "offline_access"],
        "access_token_signing_alg_values_supported": [alg],
    })
}

/// The OpenID Connect Discovery 1.0 document: RFC 8414 plus the OIDC members.
pub fn openid_configuration(config: &AuthConfig) -> Value {
    let mut doc = authorization_server_metadata(config);
    let issuer = &config.issuer;
    if let Value::Object(map) = &mut doc {
        map.insert(
            "userinfo_endpoint".into(),
            json!(format!("{issuer}{USERINFO}")),
        );
        map.insert("subject_types_supported".into(), json!(["public"]));
        map.insert(
            "id_token_signing_alg_values_supported".into(),
            json!([config.signing_alg.as_str()]),
        );
        map.insert(
            "claims_supported".into(),
            json!([
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "azp",
                "preferred_username",
                "amr",
                "idp",
                "email",
                "email_verified",
                "name",
                "given_name",
                "family_name",
                "groups",
                "sid",
                "acr"
            ]),
        );
        // `1`: one factor (a password, or an upstream provider); `2`: a second factor too.
        map.insert("acr_values_supported".into(), json!(["1", "2"]));
        // OpenID Connect RP-Initiated Logout 1.0 §2.1 and Back-Channel Logout 1.0 §2.1.
        map.insert(
            "end_session_endpoint".into(),
            json!(format!("{issuer}{END_SESSION}")),
        );
        map.insert("backchannel_logout_supported".into(), json!(true));
        map.insert("backchannel_logout_session_supported".into(), json!(true));
        map.insert(
            "prompt_values_supported".into(),
            json!(["none", "login", "consent"]),
        );
    }
    doc
}

fn public_json(body: String, max_age: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(max_age)),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn oauth_metadata(State(state): State<AppState>) -> Response {
    let doc = authorization_server_metadata(state.auth.config());
    public_json(doc.to_string(), "public, max-age=3600")
}

pub(crate) async fn openid_metadata(State(state): State<AppState>) -> Response {
    let doc = openid_configuration(state.auth.config());
    public_json(doc.to_string(), "public, max-age=3600")
}

/// The published keys. Short cache life: a rotated-in key must reach verifiers before it signs.
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    let body = state.auth.keys().jwks_json();
    let mut response = public_json(body.as_str().to_string(), "public, max-age=300");
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response
}
