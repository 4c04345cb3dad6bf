//! Record linkage endpoints: `POST /link/v1/batches` (scope `link:submit`, the client bound to
//! a partner), `GET /link/v1/conflicts` and `GET /link/v1/stats` (scope `link:read`).
//! Handlers parse and answer; linking itself is [`keyway_link::LinkService`].

mod batches;
mod read;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keyway_auth::AccessTokenClaims;

use crate::AppState;
use crate::caller::{self, Caller, TokiCall};

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
            // Batches are streamed and bounded by `keyway_link::batch::MAX_BATCH_BYTES` (and
            // per line and field) in the parser instead.
            post(batches::submit).layer(DefaultBodyLimit::disable()),
        )
        .route(CONFLICTS, get(read::conflicts))
        .route(STATS, get(read::stats))
}

/// The claims of a valid bearer token holding `scope`, or the RFC 6750 answer (endpoints that
/// only bearer tokens reach: activity reports, peer lookups).
pub(crate) async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scope: &str,
) -> Result<Arc<AccessTokenClaims>, Response> {
    let claims = caller::bearer(state, headers).await?;
    Caller::Bearer(claims.clone()).require(scope)?;
    Ok(claims)
}

/// The caller (bearer token or toki service) holding `scope`, or the answer that refuses it.
pub(crate) async fn authorize_caller(
    state: &AppState,
    headers: &HeaderMap,
    toki: &TokiCall,
    scope: &str,
) -> Result<Caller, Response> {
    let caller = caller::authenticate(state, headers, toki).await?;
    caller.require(scope)?;
    Ok(caller)
}

pub(crate) use caller::unavailable;
