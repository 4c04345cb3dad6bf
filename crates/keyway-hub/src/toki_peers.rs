//! `GET /toki/v1/peers/{client_id}` (scope `toki:peers`): a registered service's toki public key
//! and scopes, for callees that verify oscartoki calls (`keyway_toki_http::HubPeerKeys`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;
use crate::errors::problem;
use crate::link::{authorize, unavailable};

pub const PEERS: &str = "/toki/v1/peers/{client_id}";
/// Scope a service's access token needs to look up its peers' toki keys.
pub const SCOPE_PEERS: &str = "toki:peers";

pub fn routes() -> Router<AppState> {
    Router::new().route(PEERS, get(peer))
}

async fn peer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    if let Err(response) = authorize(&state, &headers, SCOPE_PEERS).await {
        return response;
    }
    match state.auth.toki_peer(&client_id).await {
        Ok(Some(peer)) => {
            let mut response = Json(peer).into_response();
            // Keys change rarely, but a removed key must stop working: callers cache by their
            // own TTL, intermediaries not at all.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            "no service with a registered toki key has this client_id",
        ),
        Err(err) => {
            tracing::warn!(error = %err, "toki peer lookup failed");
            unavailable()
        }
    }
}
