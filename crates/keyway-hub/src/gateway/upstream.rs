//! The gateway's side towards the target's API: hyper's pooled client (one pool per
//! upstream host, HTTP/1.1 over TCP or rustls), no redirects followed, connect and
//! response-head timeouts, and bodies streamed both ways under the size limit.

use std::error::Error as _;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use http_body_util::{LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::GatewayOptions;
use super::pace::{Progress, Tracked, head_within};
use crate::caller::ApiError;

/// What goes upstream: the caller's body, cut off past the limit, its progress noted.
type Outgoing = Tracked<Limited<Body>>;

/// Connections kept open per upstream host between calls, in all the pools together (each
/// worker's pool keeps its share, at least 8).
const IDLE_PER_HOST: usize = 512;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

type Pooled = Client<HttpsConnector<HttpConnector>, Outgoing>;

/// The pooled HTTP client of the gateway: one pool per connection worker, so a call and
/// the upstream connection it uses run on one thread (`serve_workers.rs`), and one for
/// calls made off the workers.
#[derive(Clone)]
pub(crate) struct UpstreamClient {
    clients: std::sync::Arc<[Pooled]>,
    options: GatewayOptions,
}

impl UpstreamClient {
    /// `private_ca`: certificates trusted besides the public roots (`--ca-file`).
    pub(crate) fn new(
        options: GatewayOptions,
        private_ca: &[rustls::pki_types::CertificateDer<'static>],
        workers: usize,
    ) -> Result<UpstreamClient, rustls::Error> {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in private_ca {
            roots.add(cert.clone())?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(options.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let clients = (0..=workers.max(1))
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(IDLE_TIMEOUT)
                    .pool_max_idle_per_host((IDLE_PER_HOST / (workers.max(1) + 1)).max(8))
                    .pool_timer(TokioTimer::new())
                    .build(connector.clone())
            })
            .collect();
        Ok(UpstreamClient { clients, options })
    }

    /// The pool of the worker this runs on (the last one off the workers).
    fn client(&self) -> &Pooled {
        let off_workers = self.clients.len() - 1;
        let index = crate::serve_workers::current_worker()
            .map_or(off_workers, |worker| worker % off_workers.max(1));
        &self.clients[index]
    }

    /// Sends `method uri` with `headers` (already end-to-end, with the gateway's
    /// `Authorization` and `Forwarded`) and `body`, and streams the answer back. `target`
    /// names the client in errors; where its API lives is logged, never told to the caller.
    pub(crate) async fn send(
        &self,
        target: &str,
        method: axum::http::Method,
        uri: Uri,
        headers: HeaderMap,
        body: Body,
        waits_for_continue: bool,
    ) -> Result<Response, ApiError> {
        let limit = self.options.max_body_bytes;
        let too_big = || {
            ApiError::PayloadTooLarge(format!(
                "the gateway forwards bodies of at most {limit} bytes"
            ))
        };
        let declared = content_length(&headers);
        if let Some(declared) = declared.filter(|len| *len > limit) {
            // A client waiting for `100 Continue` gets the 413 instead and sends nothing.
            if !waits_for_continue && declared <= limit.saturating_mul(2).min(DISCARD_MAX) {
                discard(body).await;
            }
            return Err(too_big());
        }
        let origin = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        let progress = Progress::new();
        let outgoing = Tracked::new(Limited::new(body, byte_limit(limit)), progress.clone());
        let mut request = axum::http::Request::new(outgoing);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let timeout = self.options.response_timeout;
        let answer = match head_within(self.client().request(request), &progress, timeout).await {
            None => {
                return Err(ApiError::GatewayTimeout(format!(
                    "client {target}'s API did not answer within {} s of the request",
                    timeout.as_secs()
                )));
            }
            Some(Err(err)) => {
                return Err(self.failure(target, &origin, &err, too_big, progress.failed()));
            }
            Some(Ok(answer)) => answer,
        };
        let status = answer.status();
        // The gateway asked for no protocol switch (`Upgrade` stays behind).
        if status.is_informational() {
            return Err(ApiError::BadGateway(format!(
                "client {target}'s API answered {status}, which the gateway does not pass on"
            )));
        }
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            return Err(ApiError::BadGateway(format!(
                "client {target}'s API answered {status} (a redirect); the gateway does not \
                 follow redirects"
            )));
        }
        if content_length(answer.headers()).is_some_and(|len| len > limit) {
            return Err(ApiError::BadGateway(format!(
                "client {target}'s API answered more than the gateway's limit of {limit} bytes"
            )));
        }
        let (mut parts, body) = answer.into_parts();
        super::headers::drop_from_answer(&mut parts.headers);
        // A target that sends a head and then nothing would hold the caller's connection.
        let limited = Body::new(Limited::new(body, byte_limit(limit)));
        let body = crate::body_deadline::DeadlineBody::idle(limited, timeout);
        let mut response = Response::new(Body::new(body));
        *response.status_mut() = status;
        *response.headers_mut() = parts.headers;
        Ok(response)
    }

    /// A failed call as the caller's problem: the body over the limit (413), too slow (408)
    /// or unreadable (400, `body_failed`), no connection in time (504), or no HTTP answer (502).
    fn failure(
        &self,
        target: &str,
        origin: &str,
        err: &hyper_util::client::legacy::Error,
        too_big: impl Fn() -> ApiError,
        body_failed: bool,
    ) -> ApiError {
        let mut cause = err.source();
        let mut timed_out = false;
        while let Some(e) = cause {
            if e.is::<LengthLimitError>() {
                return too_big();
            }
            if e.is::<crate::body_deadline::TooSlow>() {
                return ApiError::RequestTimeout(e.to_string());
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
            }
            cause = e.source();
        }
        if body_failed {
            return ApiError::BadRequest(
                "the request body could not be read to its end (cut off, or its chunked \
                 framing is not valid HTTP/1.1): the call to the target was given up"
                    .into(),
            );
        }
        if err.is_connect() && timed_out {
            return ApiError::GatewayTimeout(format!(
                "client {target}'s API did not accept a connection within {} s",
                self.options.connect_timeout.as_secs()
            ));
        }
        let why = if err.is_connect() {
            "cannot connect to it"
        } else {
            "it did not answer with HTTP"
        };
        tracing::warn!(%target, upstream = %origin, %err, "gateway: {why}");
        ApiError::BadGateway(format!("client {target}'s API: {why}"))
    }
}

/// Largest refused upload read to its end before the 413 goes out.
const DISCARD_MAX: u64 = 64 * 1024 * 1024;
/// How long reading a refused upload may take.
const DISCARD_WITHIN: Duration = Duration::from_secs(2);

/// Reads a refused body to its end (within a moment) before the refusal is sent: the
/// connection closes after an answer to an unread body, and a client still sending then sees
/// a broken pipe instead of the 413. Only bodies up to twice the limit (and 64 MiB) are read.
async fn discard(body: Body) {
    use http_body_util::BodyExt;
    let mut body = body;
    let drained = async { while let Some(Ok(_)) = body.frame().await {} };
    let _ = tokio::time::timeout(DISCARD_WITHIN, drained).await;
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

fn byte_limit(limit: u64) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}
