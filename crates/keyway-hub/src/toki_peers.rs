//! `GET /toki/v1/peers/{client_id}` (scope `toki:peers`): a registered service's toki public key
//! and scopes, for callees that verify oscartoki calls (`keyway_toki_http::HubPeerKeys`).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;
use crate::caller::{ApiError, Authorized, required_scope};

pub(crate) const PEERS: &str = "/toki/v1/peers/{client_id}";
required_scope!(
    /// A service looking up its peers' toki keys.
    Peers = "toki:peers"
);

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PEERS, get(peer))
}

async fn peer(
    State(state): State<AppState>,
    _: Authorized<Peers>,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    let Some(peer) = state.auth.toki_peer(&client_id).await? else {
        return Err(ApiError::NotFound(
            "no service with a registered toki key has this client_id".into(),
        ));
    };
    let mut response = Json(peer).into_response();
    // Keys change rarely, but a removed key must stop working: callers cache by their own
    // TTL, intermediaries not at all.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
