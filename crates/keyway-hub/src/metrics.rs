//! Prometheus metrics: one recorder per process, HTTP counters and latency per route.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once (several hubs in one test process share it).
pub(crate) fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    ],
                )
                .map(|b| b.build_recorder());
            match recorder {
                Ok(recorder) => {
                    let handle = recorder.handle();
                    // Fails only if another recorder is installed; then ours just renders empty.
                    let _ = ::metrics::set_global_recorder(recorder);
                    handle
                }
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Counts requests and measures latency per route template and status.
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    record(route, method, response.status().as_u16(), started);
    response
}

/// Counts a request of `route` (a template) and its time since `started`.
pub(crate) fn record(route: &str, method: &'static str, status: u16, started: Instant) {
    let (requests, duration) = series(route, method, status);
    requests.increment(1);
    duration.record(started.elapsed().as_secs_f64());
}

/// The handles of one route's series, per method and status.
struct RouteSeries {
    duration: ::metrics::Histogram,
    requests: Vec<(&'static str, u16, ::metrics::Counter)>,
}

thread_local! {
    /// Handles already registered, per thread: looking a series up by its labels allocates
    /// them and takes the registry's lock, on every request otherwise. Route templates,
    /// method labels and status codes are few, so this stays small.
    static SERIES: RefCell<HashMap<String, RouteSeries>> = RefCell::new(HashMap::new());
}

fn series(
    route: &str,
    method: &'static str,
    status: u16,
) -> (::metrics::Counter, ::metrics::Histogram) {
    SERIES.with(|series| {
        let mut series = series.borrow_mut();
        if !series.contains_key(route) {
            let duration = ::metrics::histogram!(
                "keyway_http_request_duration_seconds", "route" => route.to_string()
            );
            series.insert(
                route.to_string(),
                RouteSeries {
                    duration,
                    requests: Vec::new(),
                },
            );
        }
        let Some(found) = series.get_mut(route) else {
            return (::metrics::Counter::noop(), ::metrics::Histogram::noop());
        };
        let counter = match found
            .requests
            .iter()
            .find(|(m, s, _)| *m == method && *s == status)
        {
            Some((_, _, counter)) => counter.clone(),
            None => {
                let counter = ::metrics::counter!(
                    "keyway_http_requests_total",
                    "route" => route.to_string(), "method" => method, "status" => status.to_string()
                );
                found.requests.push((method, status, counter.clone()));
                counter
            }
        };
        (counter, found.duration.clone())
    })
}

/// Drains the latency samples into their buckets every second until `stop`: the recorder
/// keeps every sample until then (24 bytes a request, without end on a hub nobody scrapes).
/// A task of its own, so a slow store in the hub's upkeep cannot hold it back.
pub(crate) async fn drain(handle: PrometheusHandle, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => handle.run_upkeep(),
            _ = stop.changed() => return,
        }
    }
}

/// Methods are labels only when HTTP defines them: any other token a client sends (RFC 9110
/// allows arbitrary ones) would otherwise make a new series per request.
pub(crate) fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

pub(crate) fn render(handle: &PrometheusHandle) -> String {
    handle.render()
}
