//! `cargo bench -p keyway-toki --bench tokens`: the per-call cost of toki (target: sign +
//! verify of a request token ≤ 5 µs), the answer's token, and a broker message's signature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use keyway_toki::*;
use std::hint::black_box;

fn session() -> (ClientSession, Callee<StaticPeerKeys>) {
    let entropy = SystemEntropy::default();
    let (orders, ledger) = (
        ServiceId::new("orders").unwrap(),
        ServiceId::new("ledger").unwrap(),
    );
    let orders_key = TokiKeyPair::generate(&entropy).unwrap();
    let ledger_key = TokiKeyPair::generate(&entropy).unwrap();
    let ledger_public = ledger_key.public_key();
    let mut peers = StaticPeerKeys::new();
    peers.insert(orders.clone(), orders_key.public_key());
    let config = TokiConfig {
        // Measure the steady state; a ratchet is one extra HKDF every so often.
        ratchet_every: u64::MAX,
        ..TokiConfig::default()
    };
    let mut callee = Callee::new(ledger.clone(), ledger_key, peers, config.clone());
    let hello =
        PendingHello::new(&orders_key, orders, ledger, SystemClock.now_ms(), &entropy).unwrap();
    let welcome = callee
        .accept_hello(hello.wire(), &SystemClock, &entropy)
        .unwrap();
    let session =
        ClientSession::establish(hello, &welcome, &ledger_public, &SystemClock, &config).unwrap();
    (session, callee)
}

fn tokens(c: &mut Criterion) {
    let (mut session, mut callee) = session();
    let digest = content_digest(br#"{"amount":100}"#);
    let parts = RequestParts {
        method: "POST",
        authority: "ledger.internal:8443",
        path_and_query: "/v1/entries?account=42",
        content_digest: &digest,
    };
    c.bench_function("sign + verify of a per-call token", |b| {
        b.iter(|| {
            let signed = session
                .sign_request(&SystemClock, black_box(&parts))
                .unwrap();
            callee
                .verify_request(Some(&signed.header_value), &parts, &SystemClock)
                .unwrap()
        })
    });
    let answer = content_digest(br#"{"id":7}"#);
    c.bench_function(
        "full exchange: request and response tokens, both sides",
        |b| {
            b.iter(|| {
                let signed = session.sign_request(&SystemClock, &parts).unwrap();
                let verified = callee
                    .verify_request(Some(&signed.header_value), &parts, &SystemClock)
                    .unwrap();
                let header = callee.sign_response(&verified, 201, &answer).unwrap();
                session
                    .verify_response(&signed.sent, 201, &answer, Some(&header))
                    .unwrap()
            })
        },
    );
    c.bench_function("content digest of a 1 KiB body", |b| {
        let body = vec![7u8; 1024];
        b.iter(|| content_digest(black_box(&body)))
    });

    let entropy = SystemEntropy::default();
    let key = TokiKeyPair::generate(&entropy).unwrap();
    let mut peers = StaticPeerKeys::new();
    peers.insert(ServiceId::new("orders").unwrap(), key.public_key());
    let signer = MessageSigner::new(ServiceId::new("orders").unwrap(), key);
    let policy = MessagePolicy {
        per_sender_capacity: usize::MAX,
        ..MessagePolicy::default()
    };
    let mut verifier = MessageVerifier::new(peers, policy);
    let route = MessageRoute::Nats {
        subject: "ledger.entries",
    };
    c.bench_function("sign + verify of a broker message (Ed25519)", |b| {
        b.iter(|| {
            let token = signer
                .sign(&route, br#"{"id":7}"#, &SystemClock, &entropy)
                .unwrap()
                .encode();
            verifier
                .verify(Some(&token), &route, br#"{"id":7}"#, &SystemClock)
                .unwrap()
        })
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
