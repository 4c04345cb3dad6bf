//! The caller's side of a session: signs requests and checks the callee's answers.

use std::collections::BTreeMap;

use crate::clock::Clock;
use crate::config::TokiConfig;
use crate::error::TokiError;
use crate::hello::{PendingHello, SessionId};
use crate::identity::{ServiceId, TokiPublicKey};
use crate::keys::{EpochKeys, macs_equal};
use crate::token::{
    FLAG_RATCHET, RequestParts, RequestToken, ResponseToken, canonical_request, canonical_response,
};

/// A ratchet-flagged request whose answer has not come back after this many further calls is
/// presumed lost, and the next request carries the flag again.
pub const RATCHET_RETRY_AFTER_CALLS: u64 = 64;

/// A request neither answered nor abandoned after this many further calls is presumed lost by
/// a caller that forgot it, so that it stops holding the ratchet back.
pub const IN_FLIGHT_PRESUMED_LOST_AFTER_CALLS: u64 = 1 << 16;

/// An established session, caller side. Counters start at 1 and never repeat on a session.
pub struct ClientSession {
    caller: ServiceId,
    callee: ServiceId,
    session_id: SessionId,
    expires_ms: i64,
    next_counter: u64,
    current: EpochKeys,
    /// The epoch before `current`, kept so answers to requests still in flight verify; erased
    /// at the next ratchet.
    previous: Option<EpochKeys>,
    calls_in_epoch: u64,
    ratchet_every: u64,
    ratchet_wanted: bool,
    /// The latest request sent with the ratchet flag in the current epoch. Only one flagged
    /// request is outstanding at a time, so the answer to it arrives under concurrency too.
    ratchet_anchor: Option<u64>,
    /// Counter → epoch of every request signed and not yet answered or abandoned. The ratchet
    /// flag waits until none of these is older than the current epoch: ratcheting erases the
    /// previous epoch's keys, and a call signed with them could then be verified by neither
    /// side (`UnknownEpoch`), however many calls are in flight.
    in_flight: BTreeMap<u64, u32>,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("caller", &self.caller)
            .field("callee", &self.callee)
            .field("session_id", &self.session_id)
            .field("epoch", &self.current.epoch)
            .field("next_counter", &self.next_counter)
            .finish_non_exhaustive()
    }
}

/// A signed request: the header value to send and what is needed to check the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub header_value: String,
    pub sent: SentRequest,
}

/// Kept by the client until the response arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentRequest {
    pub token: RequestToken,
}

impl ClientSession {
    /// Completes the handshake with the callee's `Welcome`: checks its signature over the
    /// transcript with the callee's registered key and derives the epoch-0 keys. The ephemeral
    /// private key is erased whatever the outcome.
    pub fn establish(
        pending: PendingHello,
        welcome_wire: &[u8],
        callee_key: &TokiPublicKey,
        clock: &dyn Clock,
        config: &TokiConfig,
    ) -> Result<ClientSession, TokiError> {
        let (hello, session_id, root) = pending.complete(welcome_wire, callee_key)?;
        Ok(ClientSession {
            caller: hello.caller,
            callee: hello.callee,
            session_id,
            expires_ms: clock.now_ms().saturating_add(config.session_lifetime_ms),
            next_counter: 1,
            current: EpochKeys::new(0, root)?,
            previous: None,
            calls_in_epoch: 0,
            ratchet_every: config.ratchet_every,
            ratchet_wanted: false,
            ratchet_anchor: None,
            in_flight: BTreeMap::new(),
        })
    }

    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    pub fn caller(&self) -> &ServiceId {
        &self.caller
    }

    pub fn callee(&self) -> &ServiceId {
        &self.callee
    }

    pub fn epoch(&self) -> u32 {
        self.current.epoch
    }

    /// True once the session has expired (or run out of counters): send a new hello.
    pub fn needs_new_hello(&self, clock: &dyn Clock) -> bool {
        clock.now_ms() >= self.expires_ms || self.next_counter == u64::MAX
    }

    /// Asks for a ratchet on the next request, whatever the call count.
    pub fn request_ratchet(&mut self) {
        self.ratchet_wanted = true;
    }

    /// Signs one request. Fails with `SessionExpired` or `CounterExhausted` when a new hello
    /// is needed.
    pub fn sign_request(
        &mut self,
        clock: &dyn Clock,
        parts: &RequestParts<'_>,
    ) -> Result<SignedRequest, TokiError> {
        let now_ms = clock.now_ms();
        if now_ms >= self.expires_ms {
            return Err(TokiError::SessionExpired);
        }
        if self.next_counter == u64::MAX {
            return Err(TokiError::CounterExhausted);
        }
        parts.check_bindable()?;
        let counter = self.next_counter;
        let due = self.ratchet_wanted || self.calls_in_epoch >= self.ratchet_every;
        let outstanding = self
            .ratchet_anchor
            .is_some_and(|anchor| counter - anchor < RATCHET_RETRY_AFTER_CALLS);
        self.forget_presumed_lost(counter);
        let ratchet = due && !outstanding && !self.previous_epoch_in_flight();
        let mut token = RequestToken {
            session_id: self.session_id,
            epoch: self.current.epoch,
            counter,
            created_ms: u64::try_from(now_ms).map_err(|_| TokiError::TokenFromFuture)?,
            flags: if ratchet { FLAG_RATCHET } else { 0 },
            mac: [0; 32],
        };
        token.mac = self
            .current
            .request_mac(canonical_request(&self.caller, &self.callee, &token, parts).as_bytes());
        self.next_counter += 1;
        self.calls_in_epoch += 1;
        if ratchet {
            self.ratchet_anchor = Some(counter);
        }
        self.in_flight.insert(counter, token.epoch);
        Ok(SignedRequest {
            header_value: token.encode(),
            sent: SentRequest { token },
        })
    }

    /// Checks the callee's `oscartoki` response header against the request it answers, the
    /// response status and the `Content-Digest` of the response body. A response that fails
    /// here must be treated as not received.
    pub fn verify_response(
        &mut self,
        sent: &SentRequest,
        status: u16,
        content_digest: &str,
        header_value: Option<&str>,
    ) -> Result<(), TokiError> {
        let request = &sent.token;
        // Whatever the outcome, this request is over: a response that fails is not received.
        self.in_flight.remove(&request.counter);
        let header_value = header_value.ok_or(TokiError::MissingToken)?;
        let response = ResponseToken::parse(header_value)?;
        if response.session_id != request.session_id
            || response.epoch != request.epoch
            || response.counter != request.counter
        {
            return Err(TokiError::ResponseMismatch);
        }
        let keys = match &self.previous {
            _ if self.current.epoch == request.epoch => &self.current,
            Some(previous) if previous.epoch == request.epoch => previous,
            _ => return Err(TokiError::UnknownEpoch),
        };
        let canonical =
            canonical_response(&self.caller, &self.callee, request, status, content_digest);
        let expected = keys.response_mac(canonical.as_bytes());
        if !macs_equal(&expected, &response.mac) {
            return Err(TokiError::BadMac);
        }
        let is_anchor = request.wants_ratchet()
            && request.epoch == self.current.epoch
            && self.ratchet_anchor == Some(request.counter);
        if is_anchor {
            let next = self.current.ratchet(&request.mac, &response.mac)?;
            // The old previous epoch is dropped (erased) here.
            self.previous = Some(std::mem::replace(&mut self.current, next));
            self.calls_in_epoch = 0;
            self.ratchet_wanted = false;
            self.ratchet_anchor = None;
        }
        Ok(())
    }

    /// Ends a request that will get no answer (the connection failed, the call was cancelled
    /// or refused before the callee signed anything). Every signed request must end here or in
    /// [`ClientSession::verify_response`]: until then it holds the next ratchet back.
    pub fn abandon(&mut self, sent: &SentRequest) {
        let counter = sent.token.counter;
        self.in_flight.remove(&counter);
        if self.ratchet_anchor == Some(counter) {
            // Its answer will not come: the next request may carry the flag again.
            self.ratchet_anchor = None;
        }
    }

    /// Requests signed and not yet ended ([`ClientSession::verify_response`],
    /// [`ClientSession::abandon`]).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Counters are signed in increasing epoch order, so the oldest request in flight has the
    /// lowest epoch.
    fn previous_epoch_in_flight(&self) -> bool {
        self.in_flight
            .first_key_value()
            .is_some_and(|(_, epoch)| *epoch < self.current.epoch)
    }

    fn forget_presumed_lost(&mut self, counter: u64) {
        while let Some((&oldest, _)) = self.in_flight.first_key_value() {
            if counter - oldest <= IN_FLIGHT_PRESUMED_LOST_AFTER_CALLS {
                break;
            }
            self.in_flight.remove(&oldest);
        }
    }
}
