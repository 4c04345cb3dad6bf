//! Round trips, tampering and replay against the machine's real RabbitMQ and NATS. The URLs
//! come from KEYWAY_TEST_AMQP_URL / KEYWAY_TEST_NATS_URL (set by .ci/run); unset, the tests
//! print SKIPPED and pass, unless KEYWAY_REQUIRE_INTEROP=1, where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod amqp;
mod nats;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use keyway_toki::*;
use keyway_toki_broker::{TokiConsumer, TokiPublisher};

/// The broker URL in `var`, or `None` after printing SKIPPED (a failure when required).
pub fn broker_url(test: &str, var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            keyway_kernel::report_skip(
                test,
                &format!("{var} is not set"),
                &format!("set {var} to the broker's URL"),
            );
            None
        }
    }
}

/// A name no other run uses (queues, subjects).
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}.{}.{nanos}", std::process::id())
}

/// The `orders` publisher and a consumer that knows its key.
pub fn endpoints() -> (TokiPublisher, TokiConsumer) {
    let key = TokiKeyPair::from_seed(&[9; 32]).unwrap();
    let public = key.public_key();
    let sender = ServiceId::new("orders").unwrap();
    let mut peers = StaticPeerKeys::new();
    peers.insert(sender.clone(), public);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    (
        TokiPublisher::new(sender, key).with_clock(clock.clone()),
        TokiConsumer::new(peers, MessagePolicy::default()).with_clock(clock),
    )
}
