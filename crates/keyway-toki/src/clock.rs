use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// The time source of every freshness rule: milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default()
    }
}

/// A clock that moves only when told to (tests, simulations).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now_ms))
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by_ms: i64) {
        self.0.fetch_add(by_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where random bytes come from (ephemeral keys, nonces, session ids).
pub trait Entropy: Send + Sync {
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's CSPRNG (through aws-lc).
#[derive(Debug, Default, Clone)]
pub struct SystemEntropy(SystemRandom);

impl Entropy for SystemEntropy {
    fn fill(&self, dest: &mut [u8]) {
        // aws-lc's system RNG fails only when the OS cannot supply entropy at all; continuing
        // with predictable key material would be worse than stopping.
        #[allow(clippy::expect_used)]
        self.0.fill(dest).expect("operating system RNG failed");
    }
}
