use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use keyway_toki::TokiError;

/// What a consumer did with the messages it saw. Shared by the consumer's clones.
#[derive(Debug, Default)]
pub struct ConsumerCounters {
    verified: AtomicU64,
    dropped: AtomicU64,
    /// Dropped messages by the rule they broke (`TokiError::code`).
    by_reason: Mutex<BTreeMap<&'static str, u64>>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub verified: u64,
    pub dropped: u64,
    pub by_reason: BTreeMap<&'static str, u64>,
}

impl CounterSnapshot {
    pub fn dropped_for(&self, error: TokiError) -> u64 {
        self.by_reason.get(error.code()).copied().unwrap_or(0)
    }
}

impl ConsumerCounters {
    pub(crate) fn verified(&self, transport: &'static str) {
        self.verified.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("toki_messages_verified_total", "transport" => transport).increment(1);
    }

    pub(crate) fn dropped(&self, transport: &'static str, error: &TokiError) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut by_reason) = self.by_reason.lock() {
            *by_reason.entry(error.code()).or_default() += 1;
        }
        metrics::counter!(
            "toki_messages_dropped_total",
            "transport" => transport,
            "error" => error.code()
        )
        .increment(1);
        tracing::debug!(transport, error = error.code(), "toki message dropped");
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            verified: self.verified.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            by_reason: self
                .by_reason
                .lock()
                .map(|map| map.clone())
                .unwrap_or_default(),
        }
    }
}
