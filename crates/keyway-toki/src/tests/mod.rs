//! Round trips and every rejection rule, with an injected clock and scripted randomness.

mod calls;
mod handshake;
mod shared;
mod vectors;

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::*;

pub(crate) const T0: i64 = 1_767_225_600_000;

/// Hands out the given chunks in order; each `fill` must ask for exactly the next chunk's size.
pub(crate) struct ScriptedEntropy(Mutex<VecDeque<Vec<u8>>>);

impl ScriptedEntropy {
    pub(crate) fn new(chunks: &[&[u8]]) -> ScriptedEntropy {
        ScriptedEntropy(Mutex::new(chunks.iter().map(|c| c.to_vec()).collect()))
    }
}

impl Entropy for ScriptedEntropy {
    fn fill(&self, dest: &mut [u8]) {
        let chunk = self.0.lock().unwrap().pop_front().unwrap();
        dest.copy_from_slice(&chunk);
    }
}

pub(crate) fn seed(first: u8) -> [u8; 32] {
    std::array::from_fn(|i| first + i as u8)
}

pub(crate) fn id(name: &str) -> ServiceId {
    ServiceId::new(name).unwrap()
}

pub(crate) struct Pair {
    pub(crate) clock: ManualClock,
    pub(crate) caller_key: TokiKeyPair,
    pub(crate) callee: Callee<StaticPeerKeys>,
    pub(crate) callee_public: TokiPublicKey,
    pub(crate) config: TokiConfig,
}

pub(crate) fn pair(config: TokiConfig) -> Pair {
    let caller_key = TokiKeyPair::from_seed(&seed(0x00)).unwrap();
    let callee_key = TokiKeyPair::from_seed(&seed(0x20)).unwrap();
    let callee_public = callee_key.public_key();
    let mut peers = StaticPeerKeys::new();
    peers.insert(id("orders"), caller_key.public_key());
    Pair {
        clock: ManualClock::new(T0),
        caller_key,
        callee: Callee::new(id("ledger"), callee_key, peers, config.clone()),
        callee_public,
        config,
    }
}

impl Pair {
    pub(crate) fn hello(&self) -> PendingHello {
        let now = self.clock.now_ms();
        PendingHello::new(
            &self.caller_key,
            id("orders"),
            id("ledger"),
            now,
            &SystemEntropy::default(),
        )
        .unwrap()
    }

    pub(crate) fn connect(&mut self) -> ClientSession {
        let pending = self.hello();
        let welcome = self
            .callee
            .accept_hello(pending.wire(), &self.clock, &SystemEntropy::default())
            .unwrap();
        ClientSession::establish(
            pending,
            &welcome,
            &self.callee_public,
            &self.clock,
            &self.config,
        )
        .unwrap()
    }

    /// Signs, verifies and answers one call; returns the error of the first step that fails.
    /// `n` calls to `/`, each of which must verify on both sides.
    pub(crate) fn calls(&mut self, client: &mut ClientSession, n: usize) {
        for _ in 0..n {
            assert_eq!(self.call(client, "/"), Ok(()));
        }
    }

    pub(crate) fn call(&mut self, client: &mut ClientSession, path: &str) -> Result<(), TokiError> {
        let body = content_digest(b"{}");
        let parts = parts("POST", path, &body);
        let signed = client.sign_request(&self.clock, &parts)?;
        let verified =
            self.callee
                .verify_request(Some(&signed.header_value), &parts, &self.clock)?;
        let answer = content_digest(b"ok");
        let response = self.callee.sign_response(&verified, 200, &answer)?;
        client.verify_response(&signed.sent, 200, &answer, Some(&response))
    }
}

pub(crate) fn parts<'a>(method: &'a str, path: &'a str, digest: &'a str) -> RequestParts<'a> {
    RequestParts {
        method,
        authority: "ledger.internal:8443",
        path_and_query: path,
        content_digest: digest,
    }
}
