//! The caller side: a `reqwest::Client` wrapper that opens sessions on first use (and again
//! after expiry), signs every request and refuses every answer whose toki does not verify.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use keyway_toki::{
    ClientSession, Clock, Entropy, HEADER_NAME, PendingHello, RequestParts, SentRequest, ServiceId,
    SessionId, SystemClock, SystemEntropy, TokiConfig, TokiError, TokiKeyPair, TokiPublicKey,
    content_digest,
};

use crate::error::TokiHttpError;
use crate::wire::{CONTENT_DIGEST, HELLO_PATH, MAX_HANDSHAKE_BODY, OCTET_STREAM, challenge_error};

/// A verified answer: its toki bound the status and these exact body bytes to our request.
#[derive(Debug, Clone)]
pub struct TokiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TokiResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Sessions {
    current: Option<ClientSession>,
    /// The session before `current`, kept so answers to requests signed with it still verify.
    retired: Option<ClientSession>,
}

struct Inner {
    http: reqwest::Client,
    caller: ServiceId,
    key: TokiKeyPair,
    callee: ServiceId,
    callee_key: TokiPublicKey,
    config: TokiConfig,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    response_limit: usize,
    /// Held for microseconds (signing, verifying), never across an await.
    sessions: Mutex<Sessions>,
    /// One handshake at a time; tasks arriving meanwhile wait and reuse its session.
    handshake: tokio::sync::Mutex<()>,
}

/// Configures a [`TokiClient`].
pub struct TokiClientBuilder {
    inner: Inner,
}

impl TokiClientBuilder {
    pub fn config(mut self, config: TokiConfig) -> Self {
        self.inner.config = config;
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.inner.clock = clock;
        self
    }

    pub fn entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.inner.entropy = entropy;
        self
    }

    /// Larger response bodies are refused (default 16 MiB): they must be read whole to verify.
    pub fn response_limit(mut self, bytes: usize) -> Self {
        self.inner.response_limit = bytes;
        self
    }

    pub fn build(self) -> TokiClient {
        TokiClient(Arc::new(self.inner))
    }
}

/// Calls one callee with toki. Cheap to clone; clones share the session, and many tasks may
/// call at once (the callee's replay window accepts out-of-order counters).
#[derive(Clone)]
pub struct TokiClient(Arc<Inner>);

/// What is needed to check the answer to one signed request.
struct Pending {
    session_id: SessionId,
    sent: SentRequest,
}

/// A signed request on its way. Dropped without an answer checked (network error, refusal,
/// the caller's future cancelled), it is abandoned, so it stops holding the ratchet back.
struct InFlight<'a> {
    client: &'a TokiClient,
    pending: Pending,
    answered: bool,
}

impl InFlight<'_> {
    /// Checks the answer; the request is over whatever the outcome.
    fn verify(
        mut self,
        status: StatusCode,
        digest: &str,
        token: Option<&str>,
    ) -> Result<(), TokiError> {
        self.answered = true;
        self.client.verify(&self.pending, status, digest, token)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.client.abandon(&self.pending);
        }
    }
}

impl TokiClient {
    /// `caller`/`key`: this service's id and toki key; `callee`/`callee_key`: the service
    /// called and its registered toki key.
    pub fn builder(
        http: reqwest::Client,
        caller: ServiceId,
        key: TokiKeyPair,
        callee: ServiceId,
        callee_key: TokiPublicKey,
    ) -> TokiClientBuilder {
        TokiClientBuilder {
            inner: Inner {
                http,
                caller,
                key,
                callee,
                callee_key,
                config: TokiConfig::default(),
                clock: Arc::new(SystemClock),
                entropy: Arc::new(SystemEntropy::default()),
                response_limit: 16 << 20,
                sessions: Mutex::new(Sessions::default()),
                handshake: tokio::sync::Mutex::new(()),
            },
        }
    }

    /// The wrapped client, to build requests: `client.http().post(url).json(&x).build()?`.
    pub fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    /// The key epoch of the current session (`None` before the first call): it grows as the
    /// keys ratchet.
    pub fn session_epoch(&self) -> Option<u32> {
        let sessions = self.lock().ok()?;
        sessions.current.as_ref().map(ClientSession::epoch)
    }

    /// Builds and sends a request made with [`TokiClient::http`].
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<TokiResponse, TokiHttpError> {
        self.execute(request.build()?).await
    }

    /// Signs and sends `request`, then verifies the answer. The body must be in memory (not a
    /// stream): its digest is bound. When the callee no longer knows the session (restart,
    /// expiry), a new one is opened and the request is sent once more.
    pub async fn execute(
        &self,
        mut request: reqwest::Request,
    ) -> Result<TokiResponse, TokiHttpError> {
        let body = match request.body() {
            None => Bytes::new(),
            Some(body) => {
                Bytes::copy_from_slice(body.as_bytes().ok_or(TokiHttpError::StreamingBody)?)
            }
        };
        let digest = content_digest(&body);
        request.headers_mut().insert(
            CONTENT_DIGEST,
            HeaderValue::from_str(&digest)
                .map_err(|_| TokiError::InvalidField("content digest"))?,
        );
        let url = request.url().clone();
        let authority = authority(&url)?;
        let path_and_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let parts = RequestParts {
            method: request.method().as_str(),
            authority: &authority,
            path_and_query: &path_and_query,
            content_digest: &digest,
        };
        let mut retried = false;
        loop {
            let (header, pending) = self.sign(&url, &parts).await?;
            let call = InFlight {
                client: self,
                pending,
                answered: false,
            };
            let mut attempt = request.try_clone().ok_or(TokiHttpError::StreamingBody)?;
            attempt.headers_mut().insert(
                HEADER_NAME,
                HeaderValue::from_str(&header)
                    .map_err(|_| TokiError::Malformed("request token"))?,
            );
            let response = self.0.http.execute(attempt).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_body(response, self.0.response_limit).await?;
            let token = headers.get(HEADER_NAME);
            if token.is_none() {
                let refused = refusal(status, &headers);
                let session_gone = matches!(
                    refused,
                    Some(TokiError::UnknownSession | TokiError::SessionExpired)
                );
                if session_gone && !retried {
                    // The callee lost the session (restart, expiry on its clock): open a new one.
                    retried = true;
                    self.forget(call.pending.session_id);
                    continue;
                }
                if status == StatusCode::UNAUTHORIZED
                    || status == StatusCode::PAYLOAD_TOO_LARGE
                    || status == StatusCode::SERVICE_UNAVAILABLE
                {
                    return Err(TokiHttpError::Refused {
                        status: status.as_u16(),
                        error: refused,
                    });
                }
            }
            let token = token
                .map(|value| {
                    value
                        .to_str()
                        .map_err(|_| TokiError::Malformed("response token"))
                })
                .transpose()
                .map_err(TokiHttpError::ResponseRejected)?;
            call.verify(status, &content_digest(&body), token)
                .map_err(TokiHttpError::ResponseRejected)?;
            return Ok(TokiResponse {
                status,
                headers,
                body,
            });
        }
    }

    /// Signs with the current session, opening one first when there is none or it expired.
    async fn sign(
        &self,
        url: &reqwest::Url,
        parts: &RequestParts<'_>,
    ) -> Result<(String, Pending), TokiHttpError> {
        let mut stale = None;
        for _ in 0..2 {
            {
                let mut sessions = self.lock()?;
                if let Some(session) = sessions.current.as_mut() {
                    match session.sign_request(self.0.clock.as_ref(), parts) {
                        Ok(signed) => {
                            let pending = Pending {
                                session_id: session.session_id(),
                                sent: signed.sent,
                            };
                            return Ok((signed.header_value, pending));
                        }
                        Err(TokiError::SessionExpired | TokiError::CounterExhausted) => {
                            stale = Some(session.session_id());
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
            }
            self.handshake(url, stale).await?;
        }
        Err(TokiError::SessionExpired.into())
    }

    /// Opens a session unless another task already replaced the one seen as `stale`.
    async fn handshake(
        &self,
        url: &reqwest::Url,
        stale: Option<SessionId>,
    ) -> Result<(), TokiHttpError> {
        let _one_at_a_time = self.0.handshake.lock().await;
        {
            let sessions = self.lock()?;
            let replaced = sessions.current.as_ref().is_some_and(|session| {
                Some(session.session_id()) != stale
                    && !session.needs_new_hello(self.0.clock.as_ref())
            });
            if replaced {
                return Ok(());
            }
        }
        let inner = &self.0;
        let pending = PendingHello::new(
            &inner.key,
            inner.caller.clone(),
            inner.callee.clone(),
            inner.clock.now_ms(),
            inner.entropy.as_ref(),
        )?;
        let mut hello_url = url.clone();
        hello_url.set_path(HELLO_PATH);
        hello_url.set_query(None);
        let response = inner
            .http
            .post(hello_url)
            .header(CONTENT_TYPE, OCTET_STREAM)
            .body(pending.wire().to_vec())
            .send()
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let welcome = read_body(response, MAX_HANDSHAKE_BODY).await?;
        if status != StatusCode::OK {
            return Err(TokiHttpError::HandshakeRefused {
                status: status.as_u16(),
                error: refusal(status, &headers),
            });
        }
        let session = ClientSession::establish(
            pending,
            &welcome,
            &inner.callee_key,
            inner.clock.as_ref(),
            &inner.config,
        )?;
        let mut sessions = self.lock()?;
        sessions.retired = sessions.current.replace(session);
        Ok(())
    }

    fn verify(
        &self,
        pending: &Pending,
        status: StatusCode,
        digest: &str,
        token: Option<&str>,
    ) -> Result<(), TokiError> {
        self.with_session(pending.session_id, |session| {
            session.verify_response(&pending.sent, status.as_u16(), digest, token)
        })
        .unwrap_or(Err(TokiError::UnknownSession))
    }

    /// Ends a request that got no answer to check.
    fn abandon(&self, pending: &Pending) {
        self.with_session(pending.session_id, |session| session.abandon(&pending.sent));
    }

    /// Runs `f` on the current or retired session `session_id`, if it is still held.
    fn with_session<T>(
        &self,
        session_id: SessionId,
        f: impl FnOnce(&mut ClientSession) -> T,
    ) -> Option<T> {
        let mut sessions = self.lock().ok()?;
        let Sessions { current, retired } = &mut *sessions;
        [current.as_mut(), retired.as_mut()]
            .into_iter()
            .flatten()
            .find(|session| session.session_id() == session_id)
            .map(f)
    }

    /// Drops a session the callee no longer knows, so the next call opens a new one.
    fn forget(&self, session_id: SessionId) {
        if let Ok(mut sessions) = self.lock()
            && sessions
                .current
                .as_ref()
                .is_some_and(|session| session.session_id() == session_id)
        {
            sessions.retired = sessions.current.take();
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Sessions>, TokiHttpError> {
        self.0.sessions.lock().map_err(|_| TokiHttpError::Poisoned)
    }
}

/// `host[:port]` as reqwest sends it in `Host` (the url crate drops default ports).
fn authority(url: &reqwest::Url) -> Result<String, TokiHttpError> {
    let host = url.host_str().ok_or(TokiHttpError::InvalidUrl("no host"))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// The toki error a `401`/`503` answer names, if any.
fn refusal(status: StatusCode, headers: &HeaderMap) -> Option<TokiError> {
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let value = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?;
    TokiError::from_code(challenge_error(value)?)
}

async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Bytes, TokiHttpError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(TokiHttpError::ResponseTooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(TokiHttpError::ResponseTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}
