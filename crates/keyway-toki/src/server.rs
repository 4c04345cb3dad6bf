//! The callee's side: answers hellos, holds sessions, verifies request tokens and signs
//! response tokens.

use std::collections::HashMap;

use crate::clock::{Clock, Entropy};
use crate::config::TokiConfig;
use crate::error::TokiError;
use crate::hello::{Hello, SessionId, answer_hello};
use crate::identity::{PeerKeys, ServiceId, TokiKeyPair};
use crate::keys::{EpochKeys, macs_equal};
use crate::shared::{EpochRoot, RatchetAnchor, SessionState};
use crate::token::{
    RequestParts, RequestToken, ResponseToken, canonical_request, canonical_response,
};
use crate::window::{ReplayWindow, WindowVerdict};

struct ServerSession {
    caller: ServiceId,
    expires_ms: i64,
    current: EpochKeys,
    previous: Option<EpochKeys>,
    /// The highest ratchet-flagged exchange answered in the current epoch:
    /// (counter, request MAC, response MAC).
    ratchet_anchor: Option<(u64, [u8; 32], [u8; 32])>,
    window: ReplayWindow,
}

/// A request whose token verified. `caller` is authenticated: check its scopes for the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    pub caller: ServiceId,
    pub token: RequestToken,
}

/// One service's toki endpoint: its identity, its peers' keys and its sessions.
pub struct Callee<K: PeerKeys> {
    service: ServiceId,
    identity: TokiKeyPair,
    peers: K,
    config: TokiConfig,
    /// Hello nonce → created_ms, kept while a replay would still be fresh.
    recent_hellos: HashMap<[u8; 16], i64>,
    sessions: HashMap<SessionId, ServerSession>,
}

impl<K: PeerKeys> Callee<K> {
    pub fn new(service: ServiceId, identity: TokiKeyPair, peers: K, config: TokiConfig) -> Self {
        Callee {
            service,
            identity,
            peers,
            config,
            recent_hellos: HashMap::new(),
            sessions: HashMap::new(),
        }
    }

    pub fn service(&self) -> &ServiceId {
        &self.service
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The current epoch of a session this callee holds.
    pub fn session_epoch(&self, id: &SessionId) -> Option<u32> {
        self.sessions.get(id).map(|session| session.current.epoch)
    }

    /// How far a session this callee holds has got: its current epoch, and the counter of
    /// that epoch's ratchet anchor if one was answered or adopted.
    pub fn session_progress(&self, id: &SessionId) -> Option<(u32, Option<u64>)> {
        self.sessions.get(id).map(|session| {
            (
                session.current.epoch,
                session.ratchet_anchor.map(|(counter, _, _)| counter),
            )
        })
    }

    /// A session as plain data, for the other nodes of a cluster.
    pub fn session_state(&self, id: &SessionId) -> Option<SessionState> {
        let session = self.sessions.get(id)?;
        let root_of = |keys: &EpochKeys| EpochRoot {
            epoch: keys.epoch,
            root: zeroize::Zeroizing::new(*keys.root()),
        };
        Some(SessionState {
            caller: session.caller.clone(),
            expires_ms: session.expires_ms,
            current: root_of(&session.current),
            previous: session.previous.as_ref().map(root_of),
            anchor: session
                .ratchet_anchor
                .map(|(counter, request_mac, response_mac)| RatchetAnchor {
                    counter,
                    request_mac,
                    response_mac,
                }),
        })
    }

    /// Takes in a session another node of the cluster published: a new one, a later epoch of
    /// one held here, or a later anchor of the current epoch. Older news changes nothing, and
    /// the replay window of a session held here is kept.
    pub fn adopt_session(
        &mut self,
        id: SessionId,
        state: SessionState,
        clock: &dyn Clock,
    ) -> Result<(), TokiError> {
        let now_ms = clock.now_ms();
        if now_ms >= state.expires_ms {
            return Ok(());
        }
        let anchor = state
            .anchor
            .map(|a| (a.counter, a.request_mac, a.response_mac));
        let keys_of = |root: EpochRoot| EpochKeys::new(root.epoch, root.root);
        if let Some(held) = self.sessions.get_mut(&id) {
            if held.caller != state.caller {
                return Err(TokiError::Malformed("shared session"));
            }
            if state.current.epoch > held.current.epoch {
                held.previous = state.previous.map(keys_of).transpose()?;
                held.current = keys_of(state.current)?;
                held.ratchet_anchor = anchor;
            } else if state.current.epoch == held.current.epoch
                && anchor.is_some_and(|(counter, _, _)| {
                    held.ratchet_anchor
                        .is_none_or(|(mine, _, _)| mine < counter)
                })
            {
                held.ratchet_anchor = anchor;
            }
            return Ok(());
        }
        self.make_room_for_session(now_ms)?;
        let session = ServerSession {
            caller: state.caller,
            expires_ms: state.expires_ms,
            current: keys_of(state.current)?,
            previous: state.previous.map(keys_of).transpose()?,
            ratchet_anchor: anchor,
            window: ReplayWindow::new(),
        };
        self.sessions.insert(id, session);
        Ok(())
    }

    /// The first checks of [`Callee::verify_parsed_request`], in its order (session, expiry),
    /// for a transport to run before it reads a request body: a token naming no live session
    /// is refused without buffering anything. The full check still follows.
    pub fn precheck_session(
        &self,
        token: &RequestToken,
        clock: &dyn Clock,
    ) -> Result<(), TokiError> {
        let session = self
            .sessions
            .get(&token.session_id)
            .ok_or(TokiError::UnknownSession)?;
        if clock.now_ms() >= session.expires_ms {
            return Err(TokiError::SessionExpired);
        }
        Ok(())
    }

    /// Checks a hello (version, addressee, registered caller, signature, freshness, nonce) and
    /// answers with the `Welcome` bytes; the session is usable at once.
    pub fn accept_hello(
        &mut self,
        hello_wire: &[u8],
        clock: &dyn Clock,
        entropy: &dyn Entropy,
    ) -> Result<Vec<u8>, TokiError> {
        let hello = Hello::from_wire(hello_wire)?;
        if hello.callee != self.service {
            return Err(TokiError::WrongCallee);
        }
        let caller_key = self
            .peers
            .toki_key(&hello.caller)
            .ok_or(TokiError::UnknownPeer)?;
        caller_key.verify(&hello.signature_input(), &hello.signature)?;
        let now_ms = clock.now_ms();
        let created_ms = i64::try_from(hello.created_ms).map_err(|_| TokiError::HelloFromFuture)?;
        check_skew(created_ms, now_ms, self.config.skew_ms).map_err(|future| {
            if future {
                TokiError::HelloFromFuture
            } else {
                TokiError::HelloStale
            }
        })?;
        self.remember_hello_nonce(hello.nonce, created_ms, now_ms)?;
        self.make_room_for_session(now_ms)?;
        let (welcome_wire, session_id, root) =
            answer_hello(&self.identity, hello_wire, &hello, entropy)?;
        self.sessions.insert(
            session_id,
            ServerSession {
                caller: hello.caller,
                expires_ms: now_ms.saturating_add(self.config.session_lifetime_ms),
                current: EpochKeys::new(0, root)?,
                previous: None,
                ratchet_anchor: None,
                window: ReplayWindow::new(),
            },
        );
        Ok(welcome_wire)
    }

    fn remember_hello_nonce(
        &mut self,
        nonce: [u8; 16],
        created_ms: i64,
        now_ms: i64,
    ) -> Result<(), TokiError> {
        if self.recent_hellos.contains_key(&nonce) {
            return Err(TokiError::HelloReplayed);
        }
        if self.recent_hellos.len() >= self.config.hello_cache_capacity {
            let skew_ms = self.config.skew_ms;
            self.recent_hellos
                .retain(|_, created| created.saturating_add(skew_ms) >= now_ms);
            if self.recent_hellos.len() >= self.config.hello_cache_capacity {
                return Err(TokiError::HelloCacheFull);
            }
        }
        self.recent_hellos.insert(nonce, created_ms);
        Ok(())
    }

    fn make_room_for_session(&mut self, now_ms: i64) -> Result<(), TokiError> {
        if self.sessions.len() >= self.config.max_sessions {
            self.sessions
                .retain(|_, session| session.expires_ms > now_ms);
            if self.sessions.len() >= self.config.max_sessions {
                return Err(TokiError::TooManySessions);
            }
        }
        Ok(())
    }

    /// Verifies a request's `oscartoki` header value against the request it rides on, in the
    /// order of docs/toki.md: format, session, expiry, epoch, MAC, freshness, replay window.
    pub fn verify_request(
        &mut self,
        header_value: Option<&str>,
        parts: &RequestParts<'_>,
        clock: &dyn Clock,
    ) -> Result<VerifiedRequest, TokiError> {
        let token = RequestToken::parse(header_value.ok_or(TokiError::MissingToken)?)?;
        self.verify_parsed_request(token, parts, clock)
    }

    /// [`Callee::verify_request`] for a token already parsed (a transport that refuses
    /// garbage headers before reading the body need not parse twice).
    pub fn verify_parsed_request(
        &mut self,
        token: RequestToken,
        parts: &RequestParts<'_>,
        clock: &dyn Clock,
    ) -> Result<VerifiedRequest, TokiError> {
        parts.check_bindable()?;
        let now_ms = clock.now_ms();
        let session = self
            .sessions
            .get_mut(&token.session_id)
            .ok_or(TokiError::UnknownSession)?;
        if now_ms >= session.expires_ms {
            self.sessions.remove(&token.session_id);
            return Err(TokiError::SessionExpired);
        }
        let canonical = canonical_request(&session.caller, &self.service, &token, parts);
        // A token of the next epoch is checked with keys derived from the anchor, which are
        // installed only once its MAC verifies.
        let mut next_epoch = None;
        let keys = match (&session.previous, &session.ratchet_anchor) {
            _ if token.epoch == session.current.epoch => &session.current,
            (Some(previous), _) if previous.epoch == token.epoch => previous,
            (_, Some((_, request_mac, response_mac)))
                if Some(token.epoch) == session.current.epoch.checked_add(1) =>
            {
                &*next_epoch.insert(session.current.ratchet(request_mac, response_mac)?)
            }
            _ => return Err(TokiError::UnknownEpoch),
        };
        if !macs_equal(&keys.request_mac(canonical.as_bytes()), &token.mac) {
            return Err(TokiError::BadMac);
        }
        let created_ms = i64::try_from(token.created_ms).map_err(|_| TokiError::TokenFromFuture)?;
        check_skew(created_ms, now_ms, self.config.skew_ms).map_err(|future| {
            if future {
                TokiError::TokenFromFuture
            } else {
                TokiError::TokenStale
            }
        })?;
        match session.window.accept(token.counter) {
            WindowVerdict::Fresh => {}
            WindowVerdict::Replayed => return Err(TokiError::Replayed),
            WindowVerdict::BelowWindow => return Err(TokiError::BelowWindow),
        }
        if let Some(next) = next_epoch {
            // The epoch before the current one is dropped (erased) here.
            session.previous = Some(std::mem::replace(&mut session.current, next));
            session.ratchet_anchor = None;
        }
        Ok(VerifiedRequest {
            caller: session.caller.clone(),
            token,
        })
    }

    /// Signs the response to a verified request: the header value to send with it.
    pub fn sign_response(
        &mut self,
        request: &VerifiedRequest,
        status: u16,
        content_digest: &str,
    ) -> Result<String, TokiError> {
        let token = &request.token;
        let session = self
            .sessions
            .get_mut(&token.session_id)
            .ok_or(TokiError::UnknownSession)?;
        let keys = match &session.previous {
            _ if session.current.epoch == token.epoch => &session.current,
            Some(previous) if previous.epoch == token.epoch => previous,
            _ => return Err(TokiError::UnknownEpoch),
        };
        let canonical = canonical_response(
            &session.caller,
            &self.service,
            token,
            status,
            content_digest,
        );
        let mac = keys.response_mac(canonical.as_bytes());
        let newer_anchor = token.wants_ratchet()
            && token.epoch == session.current.epoch
            && session
                .ratchet_anchor
                .is_none_or(|(counter, _, _)| counter < token.counter);
        if newer_anchor {
            session.ratchet_anchor = Some((token.counter, token.mac, mac));
        }
        Ok(ResponseToken {
            session_id: token.session_id,
            epoch: token.epoch,
            counter: token.counter,
            mac,
        }
        .encode())
    }
}

/// `Err(true)`: created too far in the future; `Err(false)`: too far in the past.
fn check_skew(created_ms: i64, now_ms: i64, skew_ms: i64) -> Result<(), bool> {
    if created_ms > now_ms.saturating_add(skew_ms) {
        Err(true)
    } else if created_ms < now_ms.saturating_sub(skew_ms) {
        Err(false)
    } else {
        Ok(())
    }
}
