//! Transport-neutral halves: a publisher that signs, a consumer that verifies and counts.

use std::sync::{Arc, Mutex};

use keyway_toki::{
    Clock, Entropy, MessagePolicy, MessageRoute, MessageSigner, MessageToken, MessageVerifier,
    PeerKeys, ServiceId, SystemClock, SystemEntropy, TokiError, TokiKeyPair, TokiPublicKey,
    VerifiedMessage,
};

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

/// Verifies incoming messages against the senders' registered keys, drops and counts the
/// ones that fail. Clones share the replay cache and the counters.
#[derive(Clone)]
pub struct TokiConsumer {
    /// Held for one signature check, never across an await.
    verifier: Arc<Mutex<MessageVerifier<DynPeers>>>,
    clock: Arc<dyn Clock>,
    counters: Arc<ConsumerCounters>,
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
        }
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
        outcome
    }
}
