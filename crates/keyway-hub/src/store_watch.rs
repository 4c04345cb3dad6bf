//! Requests fail fast while the store cannot be reached.
//!
//! A server database that goes away with a reset is noticed at once (each query fails). One
//! that stops answering without a reset — a network partition, a frozen host — is not: every
//! query waits for the pool's 10 s acquire timeout, so callers see 10 s stalls and requests
//! pile up. A watcher pings the store every [`PING_EVERY`], allowing it [`PING_WITHIN`]; after
//! a ping fails or times out, requests that may need the store are answered 503 at once (with
//! `Retry-After`) until a ping succeeds again. Health and metrics endpoints still answer:
//! `/readyz` says the store is down, so a load balancer sends traffic elsewhere. A SQLite
//! store is a local file and is not watched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyway_auth::{AuthService, ErrorCode, OAuthError};

use crate::AppState;
use crate::errors::{OAuthJsonError, problem};

/// Time between pings.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(1);
/// A ping that takes longer counts as a failure.
pub(crate) const PING_WITHIN: Duration = Duration::from_secs(1);

/// Whether the store answered its last ping.
#[derive(Debug)]
pub struct StoreWatch {
    reachable: AtomicBool,
}

impl Default for StoreWatch {
    fn default() -> StoreWatch {
        StoreWatch {
            reachable: AtomicBool::new(true),
        }
    }
}

impl StoreWatch {
    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    fn set(&self, reachable: bool) {
        let was = self.reachable.swap(reachable, Ordering::Relaxed);
        if was && !reachable {
            tracing::warn!(
                "the store does not answer (ping failed or took over {PING_WITHIN:?}); \
                 answering 503 until it does"
            );
        } else if !was && reachable {
            tracing::info!("the store answers again");
        }
    }
}

/// Pings the store until `stop` turns true.
pub(crate) async fn watch(
    auth: Arc<AuthService>,
    watch: Arc<StoreWatch>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(PING_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        let answered = tokio::time::timeout(PING_WITHIN, auth.store().ping()).await;
        watch.set(matches!(answered, Ok(Ok(()))));
    }
}

/// Paths that answer without the store, or say it is down.
fn always_served(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The middleware: 503 at once while the store is unreachable.
pub(crate) async fn fail_fast(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.store_watch.reachable() || always_served(request.uri().path()) {
        return next.run(request).await;
    }
    ::metrics::counter!("keyway_store_unreachable_rejections_total").increment(1);
    let path = request.uri().path();
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let mut response = if wants_html {
        crate::pages::error_page(StatusCode::SERVICE_UNAVAILABLE, &unavailable())
    } else if path.starts_with("/oauth2/") {
        OAuthJsonError(unavailable()).into_response()
    } else {
        problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "the hub cannot reach its store; try again shortly",
        )
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn unavailable() -> OAuthError {
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the hub cannot reach its store; try again shortly",
    )
}
