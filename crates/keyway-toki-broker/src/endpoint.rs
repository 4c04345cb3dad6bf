//! Transport-neutral halves: a publisher that signs, a consumer that verifies and counts.

use std::sync::{Arc, Mutex};

use keyway_toki::{
    Clock, Entropy, MessagePolicy, MessageRoute, MessageSigner, MessageToken, MessageVerifier,
    PeerKeys, ServiceId, SystemClock, SystemEntropy, TokiError, TokiKeyPair, TokiPublicKey,
    VerifiedMessage,
};

use keyway_toki_http::{ActivitySink, CallEvent, PeerResolver};

use crate::counters::{ConsumerCounters, CounterSnapshot};

/// Signs outgoing messages with this service's toki key.
#[derive(Clone)]
pub struct TokiPublisher {
    signer: Arc<MessageSigner>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
}

impl TokiPublisher {
    pub fn new(sender: ServiceId, key: TokiKeyPair) -> TokiPublisher {
        TokiPublisher {
            signer: Arc::new(MessageSigner::new(sender, key)),
            clock: Arc::new(SystemClock),
            entropy: Arc::new(SystemEntropy::default()),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.entropy = entropy;
        self
    }

    pub fn sender(&self) -> &ServiceId {
        self.signer.sender()
    }

    /// The token for one message (fresh random id, current time).
    pub fn sign(&self, route: &MessageRoute<'_>, body: &[u8]) -> Result<MessageToken, TokiError> {
        self.signer
            .sign(route, body, self.clock.as_ref(), self.entropy.as_ref())
    }
}

/// Peer keys behind a trait object, so the consumer's type does not carry the lookup's type.
struct DynPeers(Arc<dyn PeerKeys>);

impl PeerKeys for DynPeers {
    fn toki_key(&self, service: &ServiceId) -> Option<TokiPublicKey> {
        self.0.toki_key(service)
    }
}

/// How long a consumer waits for its resolver to look a new sender up.
pub(crate) const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Verifies incoming messages against the senders' registered keys, drops and counts the
/// ones that fail. Clones share the replay cache and the counters.
#[derive(Clone)]
pub struct TokiConsumer {
    /// Held for one signature check, never across an await.
    verifier: Arc<Mutex<MessageVerifier<DynPeers>>>,
    clock: Arc<dyn Clock>,
    counters: Arc<ConsumerCounters>,
    activity: Option<(ServiceId, ActivitySink)>,
    resolver: Option<Arc<dyn PeerResolver>>,
}

impl TokiConsumer {
    pub fn new(peers: impl PeerKeys + 'static, policy: MessagePolicy) -> TokiConsumer {
        TokiConsumer {
            verifier: Arc::new(Mutex::new(MessageVerifier::new(
                DynPeers(Arc::new(peers)),
                policy,
            ))),
            clock: Arc::new(SystemClock),
            counters: Arc::default(),
            activity: None,
            resolver: None,
        }
    }

    /// Looks each message's claimed sender up before verifying (for example
    /// `keyway_toki_http::HubPeerKeys`, which caches, so this costs a map look-up per message
    /// once known); `resolver` should fill the `peers` table the consumer was built with. With
    /// it, a consumer learns new senders from the hub as their first messages arrive.
    pub fn with_resolver(mut self, resolver: impl PeerResolver + 'static) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// Lets the resolver (if any) learn the sender a token names before it is checked, waiting
    /// at most [`RESOLVE_TIMEOUT`]. With `HubPeerKeys` a known sender costs a cache look-up;
    /// the hub is asked again only when the entry is older than its TTL (or, after a failed
    /// lookup, its negative TTL), so a slow hub delays some messages, not every one.
    pub(crate) async fn resolve_sender(&self, header: Option<&str>) {
        let Some(resolver) = &self.resolver else {
            return;
        };
        let Some(sender) = claimed_sender(Ok(header)) else {
            return;
        };
        if tokio::time::timeout(RESOLVE_TIMEOUT, resolver.resolve(&sender))
            .await
            .is_err()
        {
            tracing::warn!(peer = %sender, "toki sender lookup timed out");
        }
    }

    /// Records one [`CallEvent`] per message checked (a `try_send`, never waiting), with
    /// `consumer` as the callee, for example into `keyway_toki_http::spawn_reporter`'s sink
    /// so that the hub's activity map shows sender → consumer edges (docs/toki.md).
    pub fn with_activity(mut self, consumer: ServiceId, sink: ActivitySink) -> Self {
        self.activity = Some((consumer, sink));
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    /// Verifies one message and counts the outcome.
    pub fn check(
        &self,
        transport: &'static str,
        header: Result<Option<&str>, TokiError>,
        route: &MessageRoute<'_>,
        body: &[u8],
    ) -> Result<VerifiedMessage, TokiError> {
        let outcome = header.and_then(|header| {
            let mut verifier = self
                .verifier
                .lock()
                .map_err(|_| TokiError::Malformed("verifier state"))?;
            verifier.verify(header, route, body, self.clock.as_ref())
        });
        match &outcome {
            Ok(_) => self.counters.verified(transport),
            Err(error) => self.counters.dropped(transport, error),
        }
        if let Some((consumer, sink)) = &self.activity {
            sink.record(message_event(
                consumer,
                transport,
                route,
                body.len(),
                claimed_sender(header),
                &outcome,
                self.clock.now_ms(),
            ));
        }
        outcome
    }
}

/// The sender a well-formed token names, before it is verified (refusals are reported with
/// it, as the HTTP layer reports a hello's claimed caller).
fn claimed_sender(header: Result<Option<&str>, TokiError>) -> Option<ServiceId> {
    MessageToken::parse(header.ok()??)
        .ok()
        .map(|token| token.sender)
}

/// A message as a call: method `AMQP`/`NATS`, route `exchange/routing key` or the subject,
/// status 200 when verified and 401 when dropped, latency = delivery delay (now − created).
fn message_event(
    consumer: &ServiceId,
    transport: &'static str,
    route: &MessageRoute<'_>,
    bytes: usize,
    claimed: Option<ServiceId>,
    outcome: &Result<VerifiedMessage, TokiError>,
    now_ms: i64,
) -> CallEvent {
    let route = match route {
        MessageRoute::Amqp {
            exchange,
            routing_key,
        } => format!("{exchange}/{routing_key}"),
        MessageRoute::Nats { subject } => (*subject).to_owned(),
    };
    let (caller, status, latency_ms, failure) = match outcome {
        Ok(verified) => {
            let created = i64::try_from(verified.created_ms).unwrap_or(i64::MAX);
            let delay = u64::try_from(now_ms.saturating_sub(created)).unwrap_or(0);
            (Some(verified.sender.as_str().to_owned()), 200, delay, None)
        }
        Err(error) => (
            claimed.map(|id| id.as_str().to_owned()),
            401,
            0,
            Some(error.code().to_owned()),
        ),
    };
    CallEvent {
        ts_ms: u64::try_from(now_ms).unwrap_or(0),
        caller,
        callee: consumer.as_str().to_owned(),
        method: transport.to_ascii_uppercase(),
        route,
        status,
        latency_us: latency_ms.saturating_mul(1000),
        bytes_in: bytes as u64,
        bytes_out: 0,
        failure,
    }
}
