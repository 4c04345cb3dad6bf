//! Record linkage endpoints: `POST /link/v1/batches` (scope `link:submit`, the client bound to
//! a partner), `GET /link/v1/conflicts` and `GET /link/v1/stats` (scope `link:read`).
//! Handlers parse and answer; linking itself is [`keyway_link::LinkService`].

mod batches;
mod read;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::AppState;
use crate::caller::required_scope;

pub(crate) const BATCHES: &str = "/link/v1/batches";
pub(crate) const CONFLICTS: &str = "/link/v1/conflicts";
pub(crate) const STATS: &str = "/link/v1/stats";

pub(crate) fn routes() -> Router<AppState> {
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

required_scope!(
    /// Submitting linkage batches.
    Submit = "link:submit"
);
required_scope!(
    /// Reading conflicts and statistics.
    Read = "link:read"
);
