//! Activity reports (docs/toki.md, "Activity map"): the layer records one [`CallEvent`] per
//! verified or refused call into an [`ActivitySink`], a bounded queue whose `record` is a
//! `try_send` (a full queue drops and counts, it never waits), and a background task sends
//! the events to the hub in batches (`POST /activity/v1/events`, scope `activity:report`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[cfg(feature = "server")]
use axum::extract::{MatchedPath, Request};
#[cfg(feature = "server")]
use axum::middleware::Next;
#[cfg(feature = "server")]
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::hub::HubSession;

/// Path of the hub's ingest endpoint.
pub const EVENTS_PATH: &str = "/activity/v1/events";

/// One call as the verifying side saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    /// Unix time in milliseconds when the call arrived.
    pub ts_ms: u64,
    /// The authenticated caller; for refusals, the caller a hello claimed (unverified), or
    /// `None` when the token named no session the callee knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    pub callee: String,
    pub method: String,
    /// The route template (`/v1/entries/{id}`) when [`remember_route`] is installed, else
    /// the path.
    pub route: String,
    pub status: u16,
    pub latency_us: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Why the call was refused: a toki error code (`bad_mac`, `replayed`, …) or `forbidden`
    /// (valid token, route not allowed). `None` for verified calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// What a reporter posts: its own events and how many it dropped since the last batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventBatch {
    #[serde(default)]
    pub dropped: u64,
    pub events: Vec<CallEvent>,
}

/// The call path's end of the queue. Cloning shares it.
#[derive(Clone)]
pub struct ActivitySink {
    queue: mpsc::Sender<CallEvent>,
    dropped: Arc<AtomicU64>,
}

impl ActivitySink {
    /// A sink and the receiving end, for a custom consumer (the reporter uses this too).
    pub fn channel(capacity: usize) -> (ActivitySink, mpsc::Receiver<CallEvent>) {
        let (queue, events) = mpsc::channel(capacity.max(1));
        let sink = ActivitySink {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (sink, events)
    }

    /// Queues an event, or drops and counts it when the queue is full: never waits.
    pub fn record(&self, event: CallEvent) {
        if self.queue.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("toki_activity_dropped_total").increment(1);
        }
    }

    /// Events dropped since this sink was made.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A reader of [`ActivitySink::dropped`] that does not keep the queue open (for the
    /// consumer of [`ActivitySink::channel`], which ends when every sink is dropped).
    pub fn drop_count(&self) -> DropCount {
        DropCount(self.dropped.clone())
    }
}

/// See [`ActivitySink::drop_count`].
#[derive(Clone)]
pub struct DropCount(Arc<AtomicU64>);

impl DropCount {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How the reporter batches.
#[derive(Debug, Clone, Copy)]
pub struct ReporterConfig {
    /// Queue size; events beyond it are dropped (default 10,000).
    pub capacity: usize,
    /// A batch is sent when it holds this many events (default 500)…
    pub max_batch: usize,
    /// …or this long after its first event (default 250 ms).
    pub max_delay: Duration,
}

impl Default for ReporterConfig {
    fn default() -> Self {
        ReporterConfig {
            capacity: 10_000,
            max_batch: 500,
            max_delay: Duration::from_millis(250),
        }
    }
}

/// Starts the background task that sends batches to the hub; returns the sink for
/// [`crate::TokiLayerBuilder::activity`]. The task ends when every sink clone is dropped.
pub fn spawn_reporter(
    hub: Arc<HubSession>,
    config: ReporterConfig,
) -> (ActivitySink, JoinHandle<()>) {
    let (sink, events) = ActivitySink::channel(config.capacity);
    let dropped = sink.dropped.clone();
    let task = tokio::spawn(report_batches(hub, events, dropped, config));
    (sink, task)
}

async fn report_batches(
    hub: Arc<HubSession>,
    mut events: mpsc::Receiver<CallEvent>,
    dropped: Arc<AtomicU64>,
    config: ReporterConfig,
) {
    let mut reported_drops = 0u64;
    while let Some(first) = events.recv().await {
        let mut batch = Vec::with_capacity(config.max_batch);
        batch.push(first);
        let deadline = tokio::time::Instant::now() + config.max_delay;
        while batch.len() < config.max_batch {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => batch.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        let total_drops = dropped.load(Ordering::Relaxed);
        let batch = EventBatch {
            dropped: total_drops.saturating_sub(reported_drops),
            events: batch,
        };
        match send(&hub, &batch).await {
            Ok(()) => reported_drops = total_drops,
            Err(error) => {
                // No retry queue: memory stays bounded and a hub outage costs only reports.
                let lost = batch.events.len() as u64;
                dropped.fetch_add(lost, Ordering::Relaxed);
                metrics::counter!("toki_activity_dropped_total").increment(lost);
                tracing::warn!(%error, lost, "activity report to the hub failed");
            }
        }
    }
}

async fn send(hub: &HubSession, batch: &EventBatch) -> Result<(), crate::TokiHttpError> {
    let mut retried = false;
    loop {
        let token = hub.bearer().await?;
        let response = hub
            .http()
            .post(hub.url(EVENTS_PATH))
            .bearer_auth(token)
            .json(batch)
            .send()
            .await?;
        if response.status() == http::StatusCode::UNAUTHORIZED && !retried {
            retried = true;
            hub.forget_token().await;
            continue;
        }
        response.error_for_status()?;
        return Ok(());
    }
}

/// The route template of the answered request, put in the response's extensions by
/// [`remember_route`] so that the layer (outside the router) can report templates, not paths.
#[derive(Debug, Clone)]
pub struct RouteTemplate(pub String);

#[cfg(feature = "server")]
/// Middleware for `Router::route_layer(axum::middleware::from_fn(remember_route))`: keeps ids
/// out of reported routes (and the hub's per-route counts bounded).
pub async fn remember_route(request: Request, next: Next) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| RouteTemplate(path.as_str().to_owned()));
    let mut response = next.run(request).await;
    if let Some(template) = template {
        response.extensions_mut().insert(template);
    }
    response
}
