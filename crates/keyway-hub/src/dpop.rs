//! The `DPoP` request header (RFC 9449 §4.1): at most one, a JWT, read where a proof counts.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use keyway_auth::{ErrorCode, OAuthError};

use crate::AppState;

/// Adds `DPoP-Nonce` (the nonce proofs must carry from now on) when the hub requires nonces.
pub(crate) fn offer_nonce(state: &AppState, response: &mut Response) {
    if let Some(value) = state
        .auth
        .dpop_nonce()
        .and_then(|nonce| HeaderValue::from_str(&nonce).ok())
    {
        response.headers_mut().insert("dpop-nonce", value);
    }
}

/// The request's DPoP proof, if it carries one; two headers are refused (§4.3 check 1).
pub(crate) fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let mut values = headers.get_all("dpop").iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "DPoP proof: more than one DPoP header",
        ));
    }
    first.to_str().map(Some).map_err(|_| {
        OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "DPoP proof: the header is not text",
        )
    })
}

/// The DPoP proof of a POST to the hub's endpoint `path` (token, PAR), checked but not yet
/// recorded: the caller records it with `AuthService::record_dpop_proof` once the request
/// succeeded, so failed requests (anyone can send them for a public client) do not fill the
/// replay cache.
pub(crate) async fn endpoint_proof(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<keyway_auth::UnrecordedProof>, OAuthError> {
    let Some(proof) = proof_header(headers)? else {
        return Ok(None);
    };
    let url = format!("{}{path}", state.auth.config().issuer);
    let proof = state
        .auth
        .check_dpop_proof_unrecorded(proof, "POST", &url, None)?;
    state.auth.check_dpop_proof_in_cluster(&proof).await?;
    Ok(Some(proof))
}
