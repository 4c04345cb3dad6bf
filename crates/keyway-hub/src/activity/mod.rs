//! The activity map (docs/toki.md, "Activity map"):
//! - `POST /activity/v1/events` (bearer, scope `activity:report`): a service's batch of call
//!   events; every event's `callee` must be the token's client (a service reports its own side).
//! - `GET /activity/v1/edges` (bearer with `activity:read`, or a hub login session): JSON.
//! - `GET /activity/v1/stream` (same): the same JSON as server-sent events, twice a second.
//! - `GET /activity` (a hub login session): the live page; `GET /activity/app.js` draws it.

mod cluster;
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

pub(crate) use cluster::share_with_cluster;
pub(crate) use map::NodeActivity;
pub use map::{ActivityMap, CallEvent, Snapshot};

use crate::AppState;
use crate::caller::{ApiError, Authorized, required_scope};
use crate::cookies;

pub(crate) const EVENTS: &str = "/activity/v1/events";
pub(crate) const EDGES: &str = "/activity/v1/edges";
pub(crate) const STREAM: &str = "/activity/v1/stream";
pub(crate) const PAGE: &str = "/activity";
pub(crate) const SCRIPT: &str = "/activity/app.js";

required_scope!(
    /// A service reporting its calls.
    Report = "activity:report"
);
required_scope!(
    /// A monitoring client reading the map without a login session.
    Read = "activity:read"
);

/// Distinct callers of one batch looked up in the client registry; the rest count as
/// unverified (each look-up may reach the store).
const MAX_CALLERS_PER_BATCH: usize = 64;

/// A batch may hold this many events (a reporter sends 500 at most by default).
const MAX_BATCH_EVENTS: usize = 10_000;
/// 10,000 events of a few hundred bytes each.
const MAX_BATCH_BYTES: usize = 4 << 20;
/// How often the stream sends a snapshot: edges update within a second.
const STREAM_EVERY: Duration = Duration::from_millis(500);
/// Snapshots per connection (one minute). EventSource reconnects by itself; ending streams
/// keeps a graceful shutdown from waiting for open pages forever.
const STREAM_SNAPSHOTS: u32 = 120;

pub(crate) fn routes() -> Router<AppState> {
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
    reporter: Authorized<Report>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let mut batch: Batch = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("not an event batch: {err}")))?;
    if batch.events.len() > MAX_BATCH_EVENTS {
        return Err(ApiError::PayloadTooLarge(format!(
            "at most {MAX_BATCH_EVENTS} events per batch"
        )));
    }
    let reporter_id = reporter.caller().client_id();
    if let Some(other) = batch.events.iter().find(|e| e.callee != reporter_id) {
        return Err(ApiError::Forbidden(format!(
            "client {reporter_id} may report only its own calls, not {}'s",
            other.callee
        )));
    }
    identify(&state.auth, &state.activity, &mut batch.events).await?;
    for event in &batch.events {
        record_metrics(event);
    }
    if batch.dropped > 0 {
        ::metrics::counter!("keyway_activity_reporter_dropped_total", "reporter" => reporter_id.to_string())
            .increment(batch.dropped);
    }
    let now = state.auth.clock().now_ms();
    state.activity.ingest(&batch.events, batch.dropped, now);
    Ok(StatusCode::ACCEPTED)
}

/// A caller named in an event is the reporter's word; only registered clients may name an
/// edge or a metric label (so the label sets stay those of the registry). Others are kept as
/// unverified callers. The registered names of callers and callees go to the map, which
/// shows them instead of ids.
pub(crate) async fn identify(
    auth: &keyway_auth::AuthService,
    map: &ActivityMap,
    events: &mut [CallEvent],
) -> Result<(), keyway_auth::OAuthError> {
    let mut known: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    for event in events.iter_mut() {
        for (id, is_caller) in [
            (event.caller.clone(), true),
            (Some(event.callee.clone()), false),
        ] {
            let Some(id) = id else {
                continue;
            };
            let name = match known.get(&id) {
                Some(name) => name.clone(),
                None if known.len() >= MAX_CALLERS_PER_BATCH => None,
                None => {
                    let name = auth.client(&id).await?.map(|c| c.name.clone());
                    known.insert(id.clone(), name.clone());
                    name
                }
            };
            if is_caller && name.is_none() {
                event.caller = None;
            }
        }
    }
    map.remember_names(known.into_iter().filter_map(|(id, name)| Some((id, name?))));
    Ok(())
}

/// Prometheus series per edge; callers are labels only once authenticated (callee-reported
/// and checked against the token), so label sets stay those of registered clients.
pub(crate) fn record_metrics(event: &CallEvent) {
    match (&event.failure, &event.caller) {
        (None, Some(caller)) => {
            let outcome = match event.status {
                500.. => "error",
                401 | 403 => "refused",
                _ => "ok",
            };
            ::metrics::counter!("keyway_activity_calls_total", "caller" => caller.clone(), "callee" => event.callee.clone(), "outcome" => outcome)
                .increment(1);
            ::metrics::histogram!("keyway_activity_call_duration_seconds", "caller" => caller.clone(), "callee" => event.callee.clone())
                .record(event.latency_us as f64 / 1e6);
        }
        (Some(code), _) => {
            // Codes come from reporters: only the codes toki defines become labels.
            let code = known_failure_code(code);
            ::metrics::counter!("keyway_activity_refused_total", "callee" => event.callee.clone(), "code" => code)
                .increment(1);
        }
        (None, None) => {}
    }
}

/// The failure codes a toki layer reports (docs/toki.md), or `other`.
fn known_failure_code(code: &str) -> &'static str {
    match code {
        "forbidden" => "forbidden",
        "unauthorized" => "unauthorized",
        "body_rejected" => "body_rejected",
        _ => keyway_toki::TokiError::from_code(code).map_or("other", |e| e.code()),
    }
}

/// A reader of the map: a hub login session (the page's way) or a caller with
/// `activity:read`, and how to check again that it still may read (for the stream).
pub(crate) struct Reader(Recheck);

/// What a long-lived answer (the stream) checks again as it runs.
#[derive(Clone)]
enum Recheck {
    /// An administrator's login session (the cookie's value).
    Session(String),
    /// An access token (`Authorization: Bearer|DPoP …`).
    Token(String),
    /// A toki call: verified per request; the stream ends on its own (`STREAM_SNAPSHOTS`).
    Nothing,
}

impl Recheck {
    /// Whether the reader may still read the map.
    async fn holds(&self, state: &AppState) -> bool {
        match self {
            Recheck::Session(token) => match state.auth.session_user(token).await {
                Ok(Some(user)) if state.auth.session_meets_hub_policy(&user) => {
                    state.auth.is_admin(&user.user_id).await.unwrap_or(false)
                }
                _ => false,
            },
            Recheck::Token(token) => match state.auth.active_access_token(token).await {
                Ok(Some(claims)) => claims
                    .scope
                    .split(' ')
                    .any(|s| s == <Read as crate::caller::RequiredScope>::SCOPE),
                _ => false,
            },
            Recheck::Nothing => true,
        }
    }
}

impl axum::extract::FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        match session_access(state, &parts.headers).await? {
            SessionAccess::Admin => {
                let token = cookies::read(
                    &parts.headers,
                    cookies::SESSION,
                    state.auth.config().uses_https(),
                )
                .unwrap_or_default();
                return Ok(Reader(Recheck::Session(token)));
            }
            SessionAccess::NotAdmin => return Err(ApiError::Forbidden(NOT_ADMIN.into())),
            SessionAccess::None => {}
        }
        Authorized::<Read>::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .map(|(_, token)| token.trim().to_string());
        Ok(Reader(token.map_or(Recheck::Nothing, Recheck::Token)))
    }
}

/// What a request's hub login session (if any) may do with the activity map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SessionAccess {
    /// No live session: the caller may still present a token with `activity:read`.
    None,
    /// Signed in, not one of the hub's administrators.
    NotAdmin,
    /// Signed in as a member of `keyway-admins`.
    Admin,
}

/// Why a signed-in non-administrator is refused.
pub(super) const NOT_ADMIN: &str = "only the hub's administrators (members of the group \
     keyway-admins) see the activity map: keyway group add keyway-admins USERNAME";

/// The access of the request's live hub login session, if it carries one.
pub(super) async fn session_access(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<SessionAccess, ApiError> {
    let Some(token) = cookies::read(headers, cookies::SESSION, state.auth.config().uses_https())
    else {
        return Ok(SessionAccess::None);
    };
    let Some(user) = state.auth.session_user(&token).await? else {
        return Ok(SessionAccess::None);
    };
    // Under `[login] require_mfa`, a password-only session (one that can only turn a second
    // factor on) is sent to sign in again.
    if !state.auth.session_meets_hub_policy(&user) {
        return Ok(SessionAccess::None);
    }
    match state.auth.is_admin(&user.user_id).await {
        Ok(true) => Ok(SessionAccess::Admin),
        Ok(false) => Ok(SessionAccess::NotAdmin),
        Err(err) => Err(ApiError::unavailable("reading the admin group", &err)),
    }
}

async fn edges(State(state): State<AppState>, _: Reader) -> Response {
    let snapshot = state.activity.snapshot(state.auth.clock().now_ms());
    let mut response = Json(snapshot).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

async fn stream(State(state): State<AppState>, Reader(recheck): Reader) -> Response {
    Sse::new(snapshots(state, recheck))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The stream checks every this many snapshots (2 s) that its reader still may read: a
/// session ended, an administrator removed or a token revoked ends it.
const RECHECK_EVERY: u32 = 4;

/// A snapshot at once, then every [`STREAM_EVERY`].
fn snapshots(state: AppState, recheck: Recheck) -> impl Stream<Item = Result<Event, Infallible>> {
    let tick = tokio::time::interval(STREAM_EVERY);
    let start = (state, recheck, tick, 0u32);
    futures_util::stream::unfold(start, |(state, recheck, mut tick, sent)| async move {
        if sent >= STREAM_SNAPSHOTS {
            return None;
        }
        if sent > 0 && sent % RECHECK_EVERY == 0 && !recheck.holds(&state).await {
            return None;
        }
        tick.tick().await;
        let snapshot = state.activity.snapshot(state.auth.clock().now_ms());
        let data = serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into());
        let event = Event::default().event("edges").data(data);
        Some((Ok(event), (state, recheck, tick, sent + 1)))
    })
}
