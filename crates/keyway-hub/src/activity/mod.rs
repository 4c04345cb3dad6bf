//! The activity map (docs/toki.md, "Activity map"):
//! - `POST /activity/v1/events` (bearer, scope `activity:report`): a service's batch of call
//!   events; every event's `callee` must be the token's client (a service reports its own side).
//! - `GET /activity/v1/edges` (bearer with `activity:read`, or a hub login session): JSON.
//! - `GET /activity/v1/stream` (same): the same JSON as server-sent events, twice a second.
//! - `GET /activity` (a hub login session): the live page; `GET /activity/app.js` draws it.

mod map;
mod page;
mod window;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::Stream;
use serde::Deserialize;

pub use map::{ActivityMap, CallEvent, Snapshot};

use crate::AppState;
use crate::cookies;
use crate::errors::problem;
use crate::link::{authorize, unavailable};

pub const EVENTS: &str = "/activity/v1/events";
pub const EDGES: &str = "/activity/v1/edges";
pub const STREAM: &str = "/activity/v1/stream";
pub const PAGE: &str = "/activity";
pub const SCRIPT: &str = "/activity/app.js";

/// Scope a service needs to report its calls.
pub const SCOPE_REPORT: &str = "activity:report";
/// Scope a monitoring client needs to read the map without a login session.
pub const SCOPE_READ: &str = "activity:read";

/// A batch may hold this many events (a reporter sends 500 at most by default).
const MAX_BATCH_EVENTS: usize = 10_000;
/// 10,000 events of a few hundred bytes each.
const MAX_BATCH_BYTES: usize = 4 << 20;
/// How often the stream sends a snapshot: edges update within a second.
const STREAM_EVERY: Duration = Duration::from_millis(500);
/// Snapshots per connection (one minute). EventSource reconnects by itself; ending streams
/// keeps a graceful shutdown from waiting for open pages forever.
const STREAM_SNAPSHOTS: u32 = 120;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            EVENTS,
            post(ingest).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)),
        )
        .route(EDGES, get(edges))
        .route(STREAM, get(stream))
        .route(PAGE, get(page::page))
        .route(SCRIPT, get(page::script))
}

#[derive(Deserialize)]
struct Batch {
    #[serde(default)]
    dropped: u64,
    events: Vec<CallEvent>,
}

async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let claims = match authorize(&state, &headers, SCOPE_REPORT).await {
        Ok(claims) => claims,
        Err(response) => return response,
    };
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(err) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                &format!("not an event batch: {err}"),
            );
        }
    };
    if batch.events.len() > MAX_BATCH_EVENTS {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            &format!("at most {MAX_BATCH_EVENTS} events per batch"),
        );
    }
    if let Some(other) = batch.events.iter().find(|e| e.callee != claims.client_id) {
        return problem(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "client {} may report only its own calls, not {}'s",
                claims.client_id, other.callee
            ),
        );
    }
    for event in &batch.events {
        record_metrics(event);
    }
    if batch.dropped > 0 {
        ::metrics::counter!("keyway_activity_reporter_dropped_total", "reporter" => claims.client_id.clone())
            .increment(batch.dropped);
    }
    let now = state.auth.clock().now_ms();
    state.activity.ingest(&batch.events, batch.dropped, now);
    StatusCode::ACCEPTED.into_response()
}

/// Prometheus series per edge; callers are labels only once authenticated (callee-reported
/// and checked against the token), so label sets stay those of registered clients.
pub(crate) fn record_metrics(event: &CallEvent) {
    match (&event.failure, &event.caller) {
        (None, Some(caller)) => {
            let outcome = if event.status >= 500 { "error" } else { "ok" };
            ::metrics::counter!("keyway_activity_calls_total", "caller" => caller.clone(), "callee" => event.callee.clone(), "outcome" => outcome)
                .increment(1);
            ::metrics::histogram!("keyway_activity_call_duration_seconds", "caller" => caller.clone(), "callee" => event.callee.clone())
                .record(event.latency_us as f64 / 1e6);
        }
        (Some(code), _) => {
            // Codes come from reporters: only known shapes become labels.
            let code =
                if code.len() <= 32 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    code.clone()
                } else {
                    "other".into()
                };
            ::metrics::counter!("keyway_activity_refused_total", "callee" => event.callee.clone(), "code" => code)
                .increment(1);
        }
        (None, None) => {}
    }
}

/// A hub login session (the page's way) or a bearer token with `activity:read`.
async fn reader(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    if has_session(state, headers).await? {
        return Ok(());
    }
    authorize(state, headers, SCOPE_READ).await.map(|_| ())
}

/// Whether the request carries a live hub login session cookie.
async fn has_session(state: &AppState, headers: &HeaderMap) -> Result<bool, Response> {
    let Some(token) = cookies::read(headers, cookies::SESSION) else {
        return Ok(false);
    };
    match state.auth.session_user(&token).await {
        Ok(user) => Ok(user.is_some()),
        Err(err) => {
            tracing::warn!(error = %err.description, "session check failed");
            Err(unavailable())
        }
    }
}

async fn edges(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(response) = reader(&state, &headers).await {
        return response;
    }
    let snapshot = state.activity.snapshot(state.auth.clock().now_ms());
    let mut response = Json(snapshot).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

async fn stream(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(response) = reader(&state, &headers).await {
        return response;
    }
    Sse::new(snapshots(state))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A snapshot at once, then every [`STREAM_EVERY`].
fn snapshots(state: AppState) -> impl Stream<Item = Result<Event, Infallible>> {
    let tick = tokio::time::interval(STREAM_EVERY);
    futures_util::stream::unfold((state, tick, 0u32), |(state, mut tick, sent)| async move {
        if sent >= STREAM_SNAPSHOTS {
            return None;
        }
        tick.tick().await;
        let snapshot = state.activity.snapshot(state.auth.clock().now_ms());
        let data = serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into());
        let event = Event::default().event("edges").data(data);
        Some((Ok(event), (state, tick, sent + 1)))
    })
}
