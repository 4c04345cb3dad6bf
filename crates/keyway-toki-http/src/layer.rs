//! The server side: a tower [`Layer`] that answers hellos, verifies each request's `oscartoki`
//! against the request it rides on, and signs each response.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::OriginalUri;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use keyway_toki::{
    Callee, Clock, Entropy, HEADER_NAME, Hello, PeerKeys, RequestParts, RequestToken, ServiceId,
    SystemClock, SystemEntropy, TokiConfig, TokiError, TokiKeyPair, TokiPublicKey, VerifiedRequest,
    content_digest,
};
use tower::{Layer, Service};

use crate::activity::{ActivitySink, CallEvent, RouteTemplate};
use crate::peers::PeerResolver;
use crate::shared::{
    ShareError, SharedSessions, claim_hello_in_cluster, claim_in_cluster, publish_anchor,
    publish_session, refresh_from_cluster,
};
use crate::wire::{HELLO_PATH, MAX_HANDSHAKE_BODY, OCTET_STREAM, challenge, status_for};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Decides whether an authenticated caller may call a route: `(caller, method, path)`.
pub type Authorize = dyn Fn(&ServiceId, &Method, &str) -> bool + Send + Sync;

/// Peer keys behind a trait object, so the layer's type does not carry the lookup's type.
pub(crate) struct DynPeers(Arc<dyn PeerKeys>);

impl PeerKeys for DynPeers {
    fn toki_key(&self, service: &ServiceId) -> Option<TokiPublicKey> {
        self.0.toki_key(service)
    }
}

pub(crate) struct Shared {
    /// Held for microseconds (MAC checks), never across an await.
    pub(crate) callee: Mutex<Callee<DynPeers>>,
    service: ServiceId,
    peers: Arc<dyn PeerKeys>,
    pub(crate) clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    body_limit: usize,
    response_limit: usize,
    authorize: Option<Arc<Authorize>>,
    resolver: Option<Arc<dyn PeerResolver>>,
    activity: Option<ActivitySink>,
    pub(crate) cluster: Option<Arc<dyn SharedSessions>>,
    pub(crate) config: TokiConfig,
    pub(crate) loads: crate::shared::LoadGate,
}

/// Configures a [`TokiLayer`].
pub struct TokiLayerBuilder {
    service: ServiceId,
    key: TokiKeyPair,
    peers: Arc<dyn PeerKeys>,
    config: TokiConfig,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    body_limit: usize,
    response_limit: usize,
    authorize: Option<Arc<Authorize>>,
    resolver: Option<Arc<dyn PeerResolver>>,
    activity: Option<ActivitySink>,
    cluster: Option<Arc<dyn SharedSessions>>,
}

impl TokiLayerBuilder {
    pub fn config(mut self, config: TokiConfig) -> Self {
        self.config = config;
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.entropy = entropy;
        self
    }

    /// Request bodies are buffered to be digested; larger ones get 413 (default 1 MiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Response bodies are buffered to be digested; larger ones become a signed 500
    /// (default 16 MiB). Streaming responses (SSE) cannot be signed: keep them outside.
    pub fn response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }

    /// Callers this refuses get a signed 403 (their token was valid; the route is not theirs).
    pub fn authorize(
        mut self,
        rule: impl Fn(&ServiceId, &Method, &str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.authorize = Some(Arc::new(rule));
        self
    }

    /// Looks a hello's caller up (for example at the hub, [`crate::HubPeerKeys`]) before its key
    /// is checked; `resolver` should fill the `peers` table the layer was built with.
    pub fn resolver(mut self, resolver: impl PeerResolver + 'static) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Records a [`CallEvent`] per verified or refused call (a `try_send`, never waiting),
    /// for example into [`crate::spawn_reporter`]'s sink.
    pub fn activity(mut self, sink: ActivitySink) -> Self {
        self.activity = Some(sink);
        self
    }

    /// Shares sessions with the other nodes of a cluster: a session opened at one node works
    /// at every node, and a counter or hello nonce is accepted once cluster-wide.
    pub fn shared_sessions(mut self, sessions: Arc<dyn SharedSessions>) -> Self {
        self.cluster = Some(sessions);
        self
    }

    pub fn build(self) -> TokiLayer {
        // Outcome counters exist from the start, so a dashboard sees 0 rather than no series.
        for name in [
            "toki_http_verified_total",
            "toki_http_forbidden_total",
            "toki_http_unauthorized_total",
        ] {
            metrics::counter!(name).increment(0);
        }
        let callee = Callee::new(
            self.service.clone(),
            self.key,
            DynPeers(self.peers.clone()),
            self.config.clone(),
        );
        TokiLayer(Arc::new(Shared {
            callee: Mutex::new(callee),
            service: self.service,
            peers: self.peers,
            clock: self.clock,
            entropy: self.entropy,
            body_limit: self.body_limit,
            response_limit: self.response_limit,
            authorize: self.authorize,
            resolver: self.resolver,
            activity: self.activity,
            cluster: self.cluster,
            config: self.config,
            loads: crate::shared::LoadGate::default(),
        }))
    }
}

/// The toki server layer. Cloning shares the sessions; apply it to the top-level router
/// (`Router::layer`) so that it sees the original path and serves [`HELLO_PATH`].
#[derive(Clone)]
pub struct TokiLayer(Arc<Shared>);

impl TokiLayer {
    /// `service` is this callee's id; `peers` holds the callers' registered toki keys.
    pub fn builder(
        service: ServiceId,
        key: TokiKeyPair,
        peers: impl PeerKeys + 'static,
    ) -> TokiLayerBuilder {
        TokiLayerBuilder {
            service,
            key,
            peers: Arc::new(peers),
            config: TokiConfig::default(),
            clock: Arc::new(SystemClock),
            entropy: Arc::new(SystemEntropy::default()),
            body_limit: 1 << 20,
            response_limit: 16 << 20,
            authorize: None,
            resolver: None,
            activity: None,
            cluster: None,
        }
    }

    /// How many sessions the callee holds now.
    pub fn session_count(&self) -> usize {
        self.0
            .callee
            .lock()
            .map_or(0, |callee| callee.session_count())
    }
}

impl<S> Layer<S> for TokiLayer {
    type Service = TokiService<S>;

    fn layer(&self, inner: S) -> TokiService<S> {
        TokiService {
            inner,
            shared: self.0.clone(),
        }
    }
}

/// The service [`TokiLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct TokiService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TokiService<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness is the one that must serve this call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move { Ok(handle(shared, inner, request).await) })
    }
}

/// What a call's handling learnt, for its activity event.
#[derive(Default)]
struct Noted {
    caller: Option<String>,
    failure: Option<&'static str>,
    bytes_in: u64,
}

async fn handle<S, ReqBody, ResBody>(
    shared: Arc<Shared>,
    inner: S,
    request: Request<ReqBody>,
) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<ResBody>, Error = Infallible>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let mut noted = Noted::default();
    let Some(sink) = shared.activity.clone() else {
        return verify_and_call(&shared, inner, request, &mut noted).await;
    };
    let started = Instant::now();
    let ts_ms = shared.clock.now_ms();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let response = verify_and_call(&shared, inner, request, &mut noted).await;
    let is_hello = path == HELLO_PATH;
    // A successful hello is not a call; a refused one is worth seeing.
    if !(is_hello && noted.failure.is_none()) {
        let route = response
            .extensions()
            .get::<RouteTemplate>()
            .map_or(path, |template| template.0.clone());
        sink.record(CallEvent {
            ts_ms: u64::try_from(ts_ms).unwrap_or(0),
            caller: noted.caller,
            callee: shared.service.as_str().to_owned(),
            method,
            route,
            status: response.status().as_u16(),
            latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            bytes_in: noted.bytes_in,
            bytes_out: http_body::Body::size_hint(response.body())
                .exact()
                .unwrap_or(0),
            failure: noted.failure.map(str::to_owned),
        });
    }
    response
}

async fn verify_and_call<S, ReqBody, ResBody>(
    shared: &Shared,
    mut inner: S,
    request: Request<ReqBody>,
    noted: &mut Noted,
) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<ResBody>, Error = Infallible>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    if request.uri().path() == HELLO_PATH {
        return hello(shared, request, noted).await;
    }
    // Garbage or absent tokens are refused before the body is read.
    let token = match request.headers().get(HEADER_NAME) {
        None => return rejected(&TokiError::MissingToken, noted),
        Some(value) => value
            .to_str()
            .map_err(|_| TokiError::Malformed("request token"))
            .and_then(RequestToken::parse),
    };
    let token = match token {
        Ok(token) => token,
        Err(error) => return rejected(&error, noted),
    };
    let epoch_before = match refresh_from_cluster(shared, &token).await {
        Ok(epoch) => epoch,
        Err(error) => return unavailable(&error, noted),
    };
    // Only a caller with a live session gets its body buffered (up to the limit); a request
    // without a body has nothing to buffer and goes straight to the full check.
    if !http_body::Body::is_end_stream(request.body()) {
        let known = match shared.callee.lock() {
            Ok(callee) => callee.precheck_session(&token, shared.clock.as_ref()),
            Err(_) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "toki state unavailable"),
        };
        if let Err(error) = known {
            return rejected(&error, noted);
        }
    }
    let (mut head, body) = request.into_parts();
    let body = match read_limited(body, shared.body_limit, declared_length(&head.headers)).await {
        Ok(body) => body,
        Err(response) => {
            noted.failure = Some("body_rejected");
            return response;
        }
    };
    noted.bytes_in = body.len() as u64;
    let digest = digest_of(&body);
    // Everything bound is borrowed from the request head: nothing is copied per call.
    let uri = head
        .extensions
        .get::<OriginalUri>()
        .map_or(&head.uri, |original| &original.0);
    let path_and_query = uri.path_and_query().map_or("/", |value| value.as_str());
    let authority = head
        .headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| head.uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let parts = RequestParts {
        method: head.method.as_str(),
        authority,
        path_and_query,
        content_digest: &digest,
    };
    let verified = match shared.callee.lock() {
        Ok(mut callee) => callee.verify_parsed_request(token, &parts, shared.clock.as_ref()),
        Err(_) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "toki state unavailable"),
    };
    let verified = match verified {
        Ok(verified) => verified,
        Err(error) => return rejected(&error, noted),
    };
    match claim_in_cluster(shared, &verified, epoch_before).await {
        Ok(true) => {}
        Ok(false) => return rejected(&TokiError::Replayed, noted),
        Err(error) => return unavailable(&error, noted),
    }
    if shared.activity.is_some() {
        noted.caller = Some(verified.caller.as_str().to_owned());
    }
    let path = path_and_query.split('?').next().unwrap_or("/");
    if let Some(authorize) = &shared.authorize
        && !authorize(&verified.caller, &head.method, path)
    {
        metrics::counter!("toki_http_forbidden_total").increment(1);
        noted.failure = Some("forbidden");
        let response = problem(
            StatusCode::FORBIDDEN,
            "caller not authorised for this route",
        );
        return sign(shared, &verified, response, false, noted).await;
    }
    metrics::counter!("toki_http_verified_total").increment(1);
    // hyper sends no body in answer to HEAD, whatever the handler produced.
    let head_request = head.method == Method::HEAD;
    head.extensions.insert(verified.clone());
    let response = match inner
        .call(Request::from_parts(head, Body::from(body)))
        .await
    {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // The handler may refuse a verified caller itself (a scope it lacks, a client deleted
    // since its session opened): those are refusals, not successful calls.
    match response.status() {
        StatusCode::FORBIDDEN => {
            metrics::counter!("toki_http_forbidden_total").increment(1);
            noted.failure = Some("forbidden");
        }
        StatusCode::UNAUTHORIZED => {
            metrics::counter!("toki_http_unauthorized_total").increment(1);
            noted.failure = Some("unauthorized");
        }
        _ => {}
    }
    sign(shared, &verified, response, head_request, noted).await
}

fn rejected(error: &TokiError, noted: &mut Noted) -> Response<Body> {
    noted.failure = Some(error.code());
    metrics::counter!("toki_http_rejected_total", "error" => error.code()).increment(1);
    tracing::debug!(error = error.code(), "oscartoki refused");
    refusal(error)
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse().ok())
}

/// Buffers a body up to `limit` bytes; a declared or actual excess is a 413.
async fn read_limited<B>(
    body: B,
    limit: usize,
    declared: Option<u64>,
) -> Result<Bytes, Response<Body>>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let too_large = || problem(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    match collect(body, limit).await {
        Ok(body) => Ok(body),
        Err(Collect::TooLarge) => Err(too_large()),
        Err(Collect::Failed) => Err(problem(StatusCode::BAD_REQUEST, "request body unreadable")),
    }
}

enum Collect {
    TooLarge,
    Failed,
}

/// A body's bytes, at most `limit` of them. A body of one chunk (most are) is passed on as
/// it is, without a copy; trailers are not bound, so they are dropped.
async fn collect<B>(body: B, limit: usize) -> Result<Bytes, Collect>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<bytes::BytesMut> = None;
    let mut length = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| Collect::Failed)?.into_data() else {
            continue;
        };
        length = length.saturating_add(data.len());
        if length > limit {
            return Err(Collect::TooLarge);
        }
        match (&mut joined, first.take()) {
            (Some(joined), _) => joined.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (None, Some(earlier)) => {
                let mut buffer = bytes::BytesMut::with_capacity(earlier.len() + data.len());
                buffer.extend_from_slice(&earlier);
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
        }
    }
    Ok(joined.map_or_else(|| first.unwrap_or_default(), bytes::BytesMut::freeze))
}

/// The `Content-Digest` of a body; that of the empty body (every GET) is computed once.
fn digest_of(body: &[u8]) -> std::borrow::Cow<'static, str> {
    static EMPTY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| content_digest(b""));
    if body.is_empty() {
        std::borrow::Cow::Borrowed(EMPTY.as_str())
    } else {
        std::borrow::Cow::Owned(content_digest(body))
    }
}

/// Buffers the inner response, digests it and adds the response token bound to the request.
async fn sign<B>(
    shared: &Shared,
    verified: &VerifiedRequest,
    response: Response<B>,
    bodiless: bool,
    noted: &mut Noted,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut head, body) = response.into_parts();
    let body = match collect(body, shared.response_limit).await {
        Ok(body) => body,
        Err(_) => {
            // Signed too, so the caller can tell this answer really comes from the callee.
            let failed = problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "response body unavailable",
            );
            let (failed_head, failed_body) = failed.into_parts();
            head = failed_head;
            match failed_body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => Bytes::new(),
            }
        }
    };
    let body = if bodiless { Bytes::new() } else { body };
    let signed = match shared.callee.lock() {
        Ok(mut callee) => callee.sign_response(verified, head.status.as_u16(), &digest_of(&body)),
        Err(_) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "toki state unavailable"),
    };
    // Unpublished, the anchor would leave the other nodes unable to follow the caller into
    // the next epoch: an unsigned 503 instead means the caller does not ratchet on it.
    if signed.is_ok()
        && let Err(error) = publish_anchor(shared, verified).await
    {
        // The handler has run: say so, so that the caller does not blindly repeat it.
        noted.failure = Some("unavailable");
        tracing::warn!(%error, "toki answer withheld: its ratchet anchor was not published");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the call was carried out, but its answer cannot be confirmed (the cluster's toki \
             sessions are unavailable): check its effect before repeating it",
        );
    }
    match signed.map(|token| HeaderValue::from_maybe_shared(Bytes::from(token))) {
        Ok(Ok(value)) => {
            head.headers.insert(HEADER_NAME, value);
            // The body was buffered: its length is now known, whatever the inner service said.
            head.headers.remove(CONTENT_LENGTH);
            Response::from_parts(head, Body::from(body))
        }
        // The session vanished between request and response (expired): say so, unsigned.
        Ok(Err(_)) => problem(StatusCode::INTERNAL_SERVER_ERROR, "response token unusable"),
        Err(error) => rejected(&error, noted),
    }
}

/// `POST HELLO_PATH`: the Hello's bytes in, the Welcome's bytes out.
async fn hello<B>(shared: &Shared, request: Request<B>, noted: &mut Noted) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if request.method() != Method::POST {
        let mut response = problem(StatusCode::METHOD_NOT_ALLOWED, "POST a Hello here");
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let declared = declared_length(request.headers());
    let body = match read_limited(request.into_body(), MAX_HANDSHAKE_BODY, declared).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    if let Ok(hello) = Hello::from_wire(&body) {
        // Claimed, not verified: reported with a failure only.
        noted.caller = Some(hello.caller.as_str().to_owned());
        if let Some(resolver) = &shared.resolver
            && hello.callee == shared.service
        {
            resolver.resolve(&hello.caller).await;
        }
    }
    // The hello's signature is checked before taking the lock too, so that forged hellos
    // (50 µs of Ed25519 each) never hold up the verification of calls.
    if let Err(error) = precheck_hello(shared, &body) {
        return rejected(&error, noted);
    }
    match claim_hello_in_cluster(shared, &body).await {
        Ok(true) => {}
        Ok(false) => return rejected(&TokiError::HelloReplayed, noted),
        Err(error) => return unavailable(&error, noted),
    }
    let welcome = match shared.callee.lock() {
        Ok(mut callee) => {
            callee.accept_hello(&body, shared.clock.as_ref(), shared.entropy.as_ref())
        }
        Err(_) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "toki state unavailable"),
    };
    // Every node must know the session before the caller can use it.
    if let Ok(welcome) = &welcome
        && let Err(error) = publish_session(shared, welcome).await
    {
        return unavailable(&error, noted);
    }
    match welcome {
        Ok(welcome) => {
            metrics::counter!("toki_http_hellos_total").increment(1);
            let mut response = Response::new(Body::from(welcome));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM));
            response
        }
        Err(error) => rejected(&error, noted),
    }
}

/// The stateless part of `Callee::accept_hello`, in the same order: format, addressee,
/// registered caller, signature.
fn precheck_hello(shared: &Shared, wire: &[u8]) -> Result<(), TokiError> {
    let hello = Hello::from_wire(wire)?;
    if hello.callee != shared.service {
        return Err(TokiError::WrongCallee);
    }
    let key = shared
        .peers
        .toki_key(&hello.caller)
        .ok_or(TokiError::UnknownPeer)?;
    key.verify(&hello.signature_input(), &hello.signature)
}

/// The cluster's shared sessions could not be reached: 503, retry shortly.
fn unavailable(error: &ShareError, noted: &mut Noted) -> Response<Body> {
    noted.failure = Some("unavailable");
    metrics::counter!("toki_http_rejected_total", "error" => "unavailable").increment(1);
    tracing::warn!(%error, "toki call refused");
    let mut response = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "toki sessions are unavailable right now; retry shortly",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// An RFC 9457 problem response.
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response<Body> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    })
    .to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// The answer to a refused token or hello: 401 (or 503) with the challenge naming the rule.
pub(crate) fn refusal(error: &TokiError) -> Response<Body> {
    let status = status_for(error);
    let mut response = problem(status, &error.to_string());
    if let Ok(value) = HeaderValue::from_str(&challenge(error)) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
