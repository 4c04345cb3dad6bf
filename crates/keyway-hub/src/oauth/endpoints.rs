//! Token (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009) endpoints.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::errors::{OAuthJsonError, no_store};
use crate::form::{client_credentials, parse_form};
use keyway_auth::{Client, TokenRequest};

/// The form of a request to a client-authenticated endpoint (`path`) and the client it
/// authenticates as (RFC 6749 §2.3, RFC 7523: the same rules at every such endpoint).
pub(super) async fn authenticated_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    path: &str,
) -> Result<(std::sync::Arc<Client>, TokenRequest), OAuthJsonError> {
    let form = parse_form(headers, body)?;
    let creds = client_credentials(headers, &form)?;
    let endpoint = format!("{}{path}", state.auth.config().issuer);
    let client = state.auth.authenticate_client(&creds, &endpoint).await?;
    Ok((client, form))
}

pub(super) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<_, OAuthJsonError> = async {
        let (client, form) = authenticated_form(&state, &headers, &body, super::TOKEN).await?;
        // RFC 9449 §5: a DPoP proof binds the access token to the proof's key.
        let dpop = crate::dpop::endpoint_proof(&state, &headers, super::TOKEN).await?;
        let response = state
            .auth
            .token_bound(&client, &form, dpop.as_ref().map(|p| &p.key))
            .await?;
        if let Some(proof) = &dpop {
            state.auth.record_dpop_proof(proof).await?;
        }
        let grant = form.single("grant_type").ok().flatten().unwrap_or_default();
        ::metrics::counter!("keyway_tokens_issued_total", "grant" => grant.to_string())
            .increment(1);
        Ok(response)
    }
    .await;
    let mut response = match result {
        Ok(response) => (StatusCode::OK, no_store(), axum::Json(response)).into_response(),
        Err(err) => err.into_response(),
    };
    // RFC 9449 §8: every token response carries the nonce the next proof must use.
    crate::dpop::offer_nonce(&state, &mut response);
    response
}

pub(super) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<_, OAuthJsonError> = async {
        let (client, form) = authenticated_form(&state, &headers, &body, super::INTROSPECT).await?;
        let token = form.required("token")?;
        Ok(state.auth.introspect(&client, token).await?)
    }
    .await;
    match result {
        Ok(answer) => (StatusCode::OK, no_store(), axum::Json(answer)).into_response(),
        Err(err) => err.into_response(),
    }
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<_, OAuthJsonError> = async {
        let (client, form) = authenticated_form(&state, &headers, &body, super::REVOKE).await?;
        let token = form.required("token")?;
        let hint = form.single("token_type_hint")?;
        state.auth.revoke(&client, token, hint).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(err) => err.into_response(),
    }
}
