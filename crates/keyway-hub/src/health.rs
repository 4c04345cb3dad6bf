use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::{AppState, metrics};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
}

/// Liveness: the process answers.
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Readiness: the store answers, a signing key is loaded, and the master key is still the
/// store's (after `keyway keys rotate-master`, a node left on the old key is drained).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    // Bounded: a store that stops answering without a reset must not stall the check.
    let store = matches!(
        tokio::time::timeout(crate::store_watch::PING_WITHIN, state.auth.store().ping()).await,
        Ok(Ok(()))
    );
    let keys = state.auth.keys().signer().is_some();
    let master_key = state.auth.master_key_current();
    let status = if store && keys && master_key {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "not ready" },
            "node": state.auth.node_id(),
            // Which hub this node serves as: a node started with another issuer (or store)
            // than the rest of a cluster shows it here.
            "issuer": state.auth.config().issuer,
            "checks": { "store": store, "signing_key": keys, "master_key": master_key },
        })),
    )
}

async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&state.metrics),
    )
}
