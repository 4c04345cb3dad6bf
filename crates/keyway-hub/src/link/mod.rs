//! Record linkage endpoints: `POST /link/v1/batches` (scope `link:submit`, the client bound to
//! a partner), `GET /link/v1/conflicts` and `GET /link/v1/stats` (scope `link:read`).
//! Handlers parse and answer; linking itself is [`keyway_link::LinkService`].

mod batches;
mod read;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use keyway_auth::AccessTokenClaims;

use crate::AppState;
use crate::errors::problem;

pub const BATCHES: &str = "/link/v1/batches";
pub const CONFLICTS: &str = "/link/v1/conflicts";
pub const STATS: &str = "/link/v1/stats";

/// Scope needed to submit batches.
pub const SCOPE_SUBMIT: &str = "link:submit";
/// Scope needed to read conflicts and statistics.
pub const SCOPE_READ: &str = "link:read";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            BATCHES,
            // Batches are streamed and bounded by `batches::MAX_BATCH_BYTES` instead.
            post(batches::submit).layer(DefaultBodyLimit::disable()),
        )
        .route(CONFLICTS, get(read::conflicts))
        .route(STATS, get(read::stats))
}

fn challenge(response: &mut Response, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
}

/// The claims of a valid bearer token holding `scope`, or the RFC 6750 answer.
pub(crate) async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<Arc<AccessTokenClaims>, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            (v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ")).then(|| v[7..].trim())
        });
    let Some(token) = token else {
        let mut response = problem(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "a Bearer access token is required",
        );
        challenge(&mut response, "Bearer realm=\"keyway\"".into());
        return Err(response);
    };
    let claims = match state.auth.active_access_token(token).await {
        Ok(Some(claims)) => claims,
        Ok(None) => {
            let mut response = problem(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "the access token is invalid, expired or revoked",
            );
            challenge(
                &mut response,
                "Bearer realm=\"keyway\", error=\"invalid_token\"".into(),
            );
            return Err(response);
        }
        Err(err) => {
            tracing::warn!(error = %err, "token check failed");
            return Err(unavailable());
        }
    };
    if !claims.scope.split(' ').any(|s| s == scope) {
        let mut response = problem(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("the access token lacks the scope {scope}"),
        );
        challenge(
            &mut response,
            format!("Bearer realm=\"keyway\", error=\"insufficient_scope\", scope=\"{scope}\""),
        );
        return Err(response);
    }
    Ok(claims)
}

pub(crate) fn unavailable() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        "the database did not answer; retry later",
    )
}
