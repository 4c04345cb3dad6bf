//! One-way broker messages (RabbitMQ, NATS): an Ed25519 signature by the sender's toki key
//! over a canonical string, checked by any consumer that knows the sender's registered public
//! key (docs/toki.md, "Message token"). No session: a publish has no answer to roll with.

use std::collections::HashMap;

use crate::clock::{Clock, Entropy};
use crate::encoding::{b64, b64_fixed, bindable, decimal_u64};
use crate::error::TokiError;
use crate::identity::{PeerKeys, ServiceId, TokiKeyPair};

/// Longer message header values are refused before any parsing (a 255-byte sender fits).
pub const MAX_MESSAGE_TOKEN_LEN: usize = 400;

const LINE_MESSAGE: &str = "keyway-toki v1 message";
const VERSION: &str = "m1";

/// Where a message was published: bound into its token, so a message cannot be moved to
/// another exchange, routing key or subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRoute<'a> {
    /// AMQP 0-9-1: the exchange (`""` for the default exchange) and the routing key.
    Amqp {
        exchange: &'a str,
        routing_key: &'a str,
    },
    /// NATS: the subject published to (never a wildcard).
    Nats { subject: &'a str },
}

impl MessageRoute<'_> {
    /// The three route lines of the canonical string: transport, destination, routing.
    fn lines(&self) -> [&str; 3] {
        match *self {
            MessageRoute::Amqp {
                exchange,
                routing_key,
            } => ["amqp", exchange, routing_key],
            MessageRoute::Nats { subject } => ["nats", subject, ""],
        }
    }

    fn check_bindable(&self) -> Result<(), TokiError> {
        let [_, destination, routing] = self.lines();
        bindable(destination, "message destination")?;
        bindable(routing, "message routing key")
    }
}

/// A parsed message token: `m1.<b64u message id>.<created_ms>.<b64u signature>.<sender>`.
/// The sender comes last because a service id may itself contain dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageToken {
    pub message_id: [u8; 16],
    pub created_ms: u64,
    pub signature: [u8; 64],
    pub sender: ServiceId,
}

impl MessageToken {
    pub fn parse(value: &str) -> Result<MessageToken, TokiError> {
        const WHAT: &str = "message token";
        if value.len() > MAX_MESSAGE_TOKEN_LEN {
            return Err(TokiError::Malformed(WHAT));
        }
        let mut fields = value.splitn(5, '.');
        let mut next = || fields.next().ok_or(TokiError::Malformed(WHAT));
        if next()? != VERSION {
            return Err(TokiError::UnsupportedVersion);
        }
        let message_id = b64_fixed(next()?, "message id")?;
        let created_ms = decimal_u64(next()?, "message created")?;
        let signature = b64_fixed(next()?, "message signature")?;
        let sender = ServiceId::new(next()?)?;
        Ok(MessageToken {
            message_id,
            created_ms,
            signature,
            sender,
        })
    }

    pub fn encode(&self) -> String {
        format!(
            "{VERSION}.{}.{}.{}.{}",
            b64(&self.message_id),
            self.created_ms,
            b64(&self.signature),
            self.sender
        )
    }

    /// The message id as base64url (also set as the AMQP `message_id` / NATS `Nats-Msg-Id`).
    pub fn message_id_text(&self) -> String {
        b64(&self.message_id)
    }
}

/// The signature input: eight lines joined by `\n`, no trailing line break.
pub fn canonical_message(
    sender: &ServiceId,
    route: &MessageRoute<'_>,
    message_id: &[u8; 16],
    created_ms: u64,
    content_digest: &str,
) -> String {
    let [transport, destination, routing] = route.lines();
    [
        LINE_MESSAGE,
        sender.as_str(),
        transport,
        destination,
        routing,
        &b64(message_id),
        &created_ms.to_string(),
        content_digest,
    ]
    .join("\n")
}

/// A publisher: its service id and toki key.
pub struct MessageSigner {
    sender: ServiceId,
    key: TokiKeyPair,
}

impl std::fmt::Debug for MessageSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MessageSigner({})", self.sender)
    }
}

impl MessageSigner {
    pub fn new(sender: ServiceId, key: TokiKeyPair) -> MessageSigner {
        MessageSigner { sender, key }
    }

    pub fn sender(&self) -> &ServiceId {
        &self.sender
    }

    /// Signs one message with a fresh random id; returns the token to put in the `oscartoki`
    /// message header.
    pub fn sign(
        &self,
        route: &MessageRoute<'_>,
        body: &[u8],
        clock: &dyn Clock,
        entropy: &dyn Entropy,
    ) -> Result<MessageToken, TokiError> {
        let mut message_id = [0u8; 16];
        entropy.fill(&mut message_id);
        self.sign_with_id(route, body, message_id, clock.now_ms())
    }

    /// Signs with a chosen id and time (test vectors; ids must never repeat for a sender).
    pub fn sign_with_id(
        &self,
        route: &MessageRoute<'_>,
        body: &[u8],
        message_id: [u8; 16],
        created_ms: i64,
    ) -> Result<MessageToken, TokiError> {
        route.check_bindable()?;
        let created_ms = u64::try_from(created_ms).map_err(|_| TokiError::TokenStale)?;
        let digest = crate::content_digest(body);
        let canonical = canonical_message(&self.sender, route, &message_id, created_ms, &digest);
        Ok(MessageToken {
            message_id,
            created_ms,
            signature: self.key.sign(canonical.as_bytes()),
            sender: self.sender.clone(),
        })
    }
}

/// Consumer policy. Durations in milliseconds.
#[derive(Debug, Clone)]
pub struct MessagePolicy {
    /// Messages wait in queues, so the past bound is longer than for calls.
    pub max_age_ms: i64,
    /// Messages created further than this in the future are refused.
    pub future_skew_ms: i64,
    /// Message ids remembered per sender (each until it is older than `max_age_ms`).
    pub per_sender_capacity: usize,
}

impl Default for MessagePolicy {
    fn default() -> MessagePolicy {
        MessagePolicy {
            max_age_ms: 300_000,
            future_skew_ms: 30_000,
            per_sender_capacity: 65_536,
        }
    }
}

/// A message whose token verified: who sent it, and which id it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMessage {
    pub sender: ServiceId,
    pub message_id: [u8; 16],
    pub created_ms: u64,
}

/// Checks message tokens against the senders' registered keys, with a replay cache per
/// sender. One per consumer process (or shared behind a lock by several consumers).
pub struct MessageVerifier<K: PeerKeys> {
    peers: K,
    policy: MessagePolicy,
    /// Sender → (message id → created_ms), kept while a replay would still be fresh.
    seen: HashMap<ServiceId, HashMap<[u8; 16], i64>>,
}

impl<K: PeerKeys> MessageVerifier<K> {
    pub fn new(peers: K, policy: MessagePolicy) -> Self {
        MessageVerifier {
            peers,
            policy,
            seen: HashMap::new(),
        }
    }

    /// Verifies a message's `oscartoki` header value against where it was delivered from and
    /// its body, in the order of docs/toki.md; records its id only when everything passed.
    pub fn verify(
        &mut self,
        header_value: Option<&str>,
        route: &MessageRoute<'_>,
        body: &[u8],
        clock: &dyn Clock,
    ) -> Result<VerifiedMessage, TokiError> {
        let token = MessageToken::parse(header_value.ok_or(TokiError::MissingToken)?)?;
        route.check_bindable()?;
        let key = self
            .peers
            .toki_key(&token.sender)
            .ok_or(TokiError::UnknownPeer)?;
        let digest = crate::content_digest(body);
        let canonical = canonical_message(
            &token.sender,
            route,
            &token.message_id,
            token.created_ms,
            &digest,
        );
        key.verify(canonical.as_bytes(), &token.signature)?;
        let now_ms = clock.now_ms();
        let created_ms = i64::try_from(token.created_ms).map_err(|_| TokiError::TokenFromFuture)?;
        if created_ms > now_ms.saturating_add(self.policy.future_skew_ms) {
            return Err(TokiError::TokenFromFuture);
        }
        if created_ms < now_ms.saturating_sub(self.policy.max_age_ms) {
            return Err(TokiError::TokenStale);
        }
        let seen = self.seen.entry(token.sender.clone()).or_default();
        if seen.contains_key(&token.message_id) {
            return Err(TokiError::Replayed);
        }
        if seen.len() >= self.policy.per_sender_capacity {
            let max_age_ms = self.policy.max_age_ms;
            seen.retain(|_, created| created.saturating_add(max_age_ms) >= now_ms);
            if seen.len() >= self.policy.per_sender_capacity {
                return Err(TokiError::ReplayCacheFull);
            }
        }
        seen.insert(token.message_id, created_ms);
        Ok(VerifiedMessage {
            sender: token.sender,
            message_id: token.message_id,
            created_ms: token.created_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, StaticPeerKeys};

    const T0: i64 = 1_767_225_600_000;
    const ROUTE: MessageRoute<'static> = MessageRoute::Amqp {
        exchange: "ledger.events",
        routing_key: "entry.created",
    };

    fn setup() -> (MessageSigner, MessageVerifier<StaticPeerKeys>, ManualClock) {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        let key = TokiKeyPair::from_seed(&seed).unwrap();
        let sender = ServiceId::new("orders").unwrap();
        let mut peers = StaticPeerKeys::new();
        peers.insert(sender.clone(), key.public_key());
        let policy = MessagePolicy {
            per_sender_capacity: 2,
            ..MessagePolicy::default()
        };
        (
            MessageSigner::new(sender, key),
            MessageVerifier::new(peers, policy),
            ManualClock::new(T0),
        )
    }

    fn sign(signer: &MessageSigner, id: u8, body: &[u8], at: i64) -> String {
        signer
            .sign_with_id(&ROUTE, body, [id; 16], at)
            .unwrap()
            .encode()
    }

    #[test]
    fn round_trip_then_replay_is_refused() {
        let (signer, mut verifier, clock) = setup();
        let token = sign(&signer, 1, b"{}", T0);
        let ok = verifier
            .verify(Some(&token), &ROUTE, b"{}", &clock)
            .unwrap();
        assert_eq!(ok.sender.as_str(), "orders");
        assert_eq!(
            verifier.verify(Some(&token), &ROUTE, b"{}", &clock),
            Err(TokiError::Replayed)
        );
    }

    #[test]
    fn every_bound_field_matters() {
        let (signer, mut verifier, clock) = setup();
        let token = sign(&signer, 1, b"{}", T0);
        let moved = MessageRoute::Amqp {
            exchange: "ledger.events",
            routing_key: "entry.deleted",
        };
        let nats = MessageRoute::Nats {
            subject: "ledger.events",
        };
        for (route, body) in [(ROUTE, &b"{ }"[..]), (moved, b"{}"), (nats, b"{}")] {
            assert_eq!(
                verifier.verify(Some(&token), &route, body, &clock),
                Err(TokiError::BadSignature)
            );
        }
        let renamed = token.replace(".orders", ".ledger");
        assert_eq!(
            verifier.verify(Some(&renamed), &ROUTE, b"{}", &clock),
            Err(TokiError::UnknownPeer)
        );
    }

    #[test]
    fn freshness_and_capacity() {
        let (signer, mut verifier, clock) = setup();
        let future = sign(&signer, 1, b"", T0 + 30_001);
        assert_eq!(
            verifier.verify(Some(&future), &ROUTE, b"", &clock),
            Err(TokiError::TokenFromFuture)
        );
        let old = sign(&signer, 2, b"", T0 - 300_001);
        assert_eq!(
            verifier.verify(Some(&old), &ROUTE, b"", &clock),
            Err(TokiError::TokenStale)
        );
        for id in [3, 4] {
            let token = sign(&signer, id, b"", T0);
            assert!(verifier.verify(Some(&token), &ROUTE, b"", &clock).is_ok());
        }
        let fifth = sign(&signer, 5, b"", T0);
        assert_eq!(
            verifier.verify(Some(&fifth), &ROUTE, b"", &clock),
            Err(TokiError::ReplayCacheFull)
        );
        // Once the remembered ids are too old to be replayed, they are forgotten.
        clock.advance(300_001);
        let sixth = sign(&signer, 6, b"", T0 + 300_001);
        assert!(verifier.verify(Some(&sixth), &ROUTE, b"", &clock).is_ok());
    }

    #[test]
    fn garbage_headers_are_typed_errors() {
        let (_, mut verifier, clock) = setup();
        assert_eq!(
            verifier.verify(None, &ROUTE, b"", &clock),
            Err(TokiError::MissingToken)
        );
        for bad in ["", "m1", "m1....", "m1.x.1.y.orders", &"m".repeat(500)] {
            assert!(
                matches!(
                    verifier.verify(Some(bad), &ROUTE, b"", &clock),
                    Err(TokiError::Malformed(_) | TokiError::UnsupportedVersion)
                ),
                "{bad}"
            );
        }
    }
}
