//! Token (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009) endpoints.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::errors::{OAuthJsonError, no_store};
use crate::form::{client_credentials, parse_form};

fn endpoint_url(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.auth.config().issuer)
}

pub(super) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<_, OAuthJsonError> = async {
        let form = parse_form(&headers, &body)?;
        let creds = client_credentials(&headers, &form)?;
        let client = state
            .auth
            .authenticate_client(&creds, &endpoint_url(&state, super::TOKEN))
            .await?;
        let response = state.auth.token(&client, &form).await?;
        let grant = form.single("grant_type").ok().flatten().unwrap_or_default();
        ::metrics::counter!("keyway_tokens_issued_total", "grant" => grant.to_string())
            .increment(1);
        Ok(response)
    }
    .await;
    match result {
        Ok(response) => (StatusCode::OK, no_store(), axum::Json(response)).into_response(),
        Err(err) => err.into_response(),
    }
}

pub(super) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<_, OAuthJsonError> = async {
        let form = parse_form(&headers, &body)?;
        let creds = client_credentials(&headers, &form)?;
        let client = state
            .auth
            .authenticate_client(&creds, &endpoint_url(&state, super::INTROSPECT))
            .await?;
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
        let form = parse_form(&headers, &body)?;
        let creds = client_credentials(&headers, &form)?;
        let client = state
            .auth
            .authenticate_client(&creds, &endpoint_url(&state, super::REVOKE))
            .await?;
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
