//! Hello and welcome: every refusal.

use super::*;
use crate::*;

#[test]
fn hellos_are_refused_for_each_reason() {
    let mut p = pair(TokiConfig::default());
    let entropy = SystemEntropy::default();
    let pending = p.hello();
    assert!(
        p.callee
            .accept_hello(pending.wire(), &p.clock, &entropy)
            .is_ok()
    );
    assert_eq!(
        p.callee.accept_hello(pending.wire(), &p.clock, &entropy),
        Err(TokiError::HelloReplayed)
    );

    let mut tampered = p.hello().wire().to_vec();
    let last = tampered.len() - 70;
    tampered[last] ^= 1;
    assert_eq!(
        p.callee.accept_hello(&tampered, &p.clock, &entropy),
        Err(TokiError::BadSignature)
    );

    let stranger = TokiKeyPair::from_seed(&seed(0x40)).unwrap();
    let unknown = PendingHello::new(&stranger, id("intruder"), id("ledger"), T0, &entropy).unwrap();
    assert_eq!(
        p.callee.accept_hello(unknown.wire(), &p.clock, &entropy),
        Err(TokiError::UnknownPeer)
    );
    let elsewhere =
        PendingHello::new(&p.caller_key, id("orders"), id("billing"), T0, &entropy).unwrap();
    assert_eq!(
        p.callee.accept_hello(elsewhere.wire(), &p.clock, &entropy),
        Err(TokiError::WrongCallee)
    );

    for (created, error) in [
        (T0 - 30_001, TokiError::HelloStale),
        (T0 + 30_001, TokiError::HelloFromFuture),
    ] {
        let hello = PendingHello::new(&p.caller_key, id("orders"), id("ledger"), created, &entropy)
            .unwrap();
        assert_eq!(
            p.callee.accept_hello(hello.wire(), &p.clock, &entropy),
            Err(error)
        );
    }
    for edge in [T0 - 30_000, T0 + 30_000] {
        let hello =
            PendingHello::new(&p.caller_key, id("orders"), id("ledger"), edge, &entropy).unwrap();
        assert!(
            p.callee
                .accept_hello(hello.wire(), &p.clock, &entropy)
                .is_ok()
        );
    }
    let mut wrong_version = p.hello().wire().to_vec();
    wrong_version[0] = 2;
    assert_eq!(
        p.callee.accept_hello(&wrong_version, &p.clock, &entropy),
        Err(TokiError::UnsupportedVersion)
    );
    let truncated = p.hello().wire()[..40].to_vec();
    assert!(matches!(
        p.callee.accept_hello(&truncated, &p.clock, &entropy),
        Err(TokiError::Malformed(_))
    ));
}

#[test]
fn hello_cache_is_bounded_and_forgets_stale_nonces() {
    let config = TokiConfig {
        hello_cache_capacity: 2,
        ..TokiConfig::default()
    };
    let mut p = pair(config);
    let entropy = SystemEntropy::default();
    for _ in 0..2 {
        assert!(
            p.callee
                .accept_hello(p.hello().wire(), &p.clock, &entropy)
                .is_ok()
        );
    }
    assert_eq!(
        p.callee.accept_hello(p.hello().wire(), &p.clock, &entropy),
        Err(TokiError::HelloCacheFull)
    );
    p.clock.advance(30_001);
    assert!(
        p.callee
            .accept_hello(p.hello().wire(), &p.clock, &entropy)
            .is_ok()
    );
}

#[test]
fn a_forged_welcome_is_refused() {
    let mut p = pair(TokiConfig::default());
    let pending = p.hello();
    let mut welcome = p
        .callee
        .accept_hello(pending.wire(), &p.clock, &SystemEntropy::default())
        .unwrap();
    welcome[5] ^= 1;
    let result = ClientSession::establish(pending, &welcome, &p.callee_public, &p.clock, &p.config);
    assert_eq!(result.err(), Some(TokiError::BadSignature));
}

#[test]
fn a_low_order_ephemeral_key_is_refused() {
    let mut p = pair(TokiConfig::default());
    let mut hello = p.hello().hello().clone();
    hello.ephemeral_public = [0; 32];
    hello.signature = p.caller_key.sign(&hello.signature_input());
    let result = p
        .callee
        .accept_hello(&hello.to_wire(), &p.clock, &SystemEntropy::default());
    assert_eq!(result, Err(TokiError::KeyAgreement));
    assert_eq!(p.callee.session_count(), 0);
}
