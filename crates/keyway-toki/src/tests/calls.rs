//! Request and response tokens, replay window, expiry and ratchet.

use super::*;
use crate::*;

#[test]
fn round_trip_exposes_the_authenticated_caller() {
    let mut p = pair(TokiConfig::default());
    let mut client = p.connect();
    let digest = content_digest(b"{\"amount\":100}");
    let request = parts("POST", "/v1/entries?account=42", &digest);
    let signed = client.sign_request(&p.clock, &request).unwrap();
    let verified = p
        .callee
        .verify_request(Some(&signed.header_value), &request, &p.clock)
        .unwrap();
    assert_eq!(verified.caller, id("orders"));
    assert_eq!(verified.token.counter, 1);
    let body = content_digest(b"{\"id\":7}");
    let response = p.callee.sign_response(&verified, 201, &body).unwrap();
    assert_eq!(
        client.verify_response(&signed.sent, 201, &body, Some(&response)),
        Ok(())
    );
    for _ in 0..10 {
        assert_eq!(p.call(&mut client, "/v1/ping"), Ok(()));
    }
}

#[test]
fn request_tokens_are_refused_for_each_reason() {
    let mut p = pair(TokiConfig::default());
    let mut client = p.connect();
    let digest = content_digest(b"{}");
    let good = parts("POST", "/v1/entries", &digest);
    let verify = |p: &mut Pair, header: Option<&str>, request: &RequestParts<'_>| {
        p.callee
            .verify_request(header, request, &p.clock)
            .map(|_| ())
    };

    let signed = client.sign_request(&p.clock, &good).unwrap();
    let header = signed.header_value.as_str();
    let other_body = content_digest(b"{\"x\":1}");
    for tampered in [
        parts("GET", "/v1/entries", &digest),
        parts("POST", "/v1/entries?x=1", &digest),
        parts("POST", "/v1/entries", &other_body),
        RequestParts {
            authority: "evil:8443",
            ..good
        },
    ] {
        assert_eq!(
            verify(&mut p, Some(header), &tampered),
            Err(TokiError::BadMac)
        );
    }
    // Flip a character well inside the MAC: the last base64url character of a
    // 32-byte value carries only 4 bits, so changing it can make the encoding
    // non-canonical (Malformed) instead of a wrong MAC.
    let mut chars: Vec<char> = header.chars().collect();
    let inside_mac = chars.len() - 10;
    chars[inside_mac] = if chars[inside_mac] == 'A' { 'B' } else { 'A' };
    let flipped: String = chars.into_iter().collect();
    assert_eq!(
        verify(&mut p, Some(&flipped), &good),
        Err(TokiError::BadMac)
    );
    let mut forged = RequestToken::parse(header).unwrap();
    forged.session_id = SessionId([9; 16]);
    assert_eq!(
        verify(&mut p, Some(&forged.encode()), &good),
        Err(TokiError::UnknownSession)
    );
    forged = RequestToken::parse(header).unwrap();
    forged.epoch = 5;
    assert_eq!(
        verify(&mut p, Some(&forged.encode()), &good),
        Err(TokiError::UnknownEpoch)
    );
    assert_eq!(verify(&mut p, None, &good), Err(TokiError::MissingToken));
    assert!(matches!(
        verify(&mut p, Some("garbage"), &good),
        Err(TokiError::Malformed(_))
    ));
    let smuggled = parts("POST", "/v1/entries\nX: y", &digest);
    assert_eq!(
        verify(&mut p, Some(header), &smuggled),
        Err(TokiError::InvalidField("path and query"))
    );

    // None of the failures above consumed the counter.
    assert_eq!(verify(&mut p, Some(header), &good), Ok(()));
    assert_eq!(
        verify(&mut p, Some(header), &good),
        Err(TokiError::Replayed)
    );
}

#[test]
fn request_tokens_outside_the_skew_are_refused_both_ways() {
    let mut p = pair(TokiConfig::default());
    let mut client = p.connect();
    let digest = content_digest(b"");
    let request = parts("GET", "/", &digest);
    let old = client.sign_request(&p.clock, &request).unwrap();
    p.clock.advance(30_001);
    let result = p
        .callee
        .verify_request(Some(&old.header_value), &request, &p.clock);
    assert_eq!(result, Err(TokiError::TokenStale));
    let future = client.sign_request(&p.clock, &request).unwrap();
    p.clock.advance(-60_002);
    let result = p
        .callee
        .verify_request(Some(&future.header_value), &request, &p.clock);
    assert_eq!(result, Err(TokiError::TokenFromFuture));
    p.clock.advance(30_002);
    let result = p
        .callee
        .verify_request(Some(&future.header_value), &request, &p.clock);
    assert!(
        result.is_ok(),
        "exactly at the edge of the skew is accepted"
    );
}

#[test]
fn concurrent_requests_verify_in_any_order_and_old_counters_fall_out() {
    let mut p = pair(TokiConfig::default());
    let mut client = p.connect();
    let digest = content_digest(b"");
    let request = parts("GET", "/", &digest);
    let signed: Vec<_> = (0..WINDOW_BITS + 2)
        .map(|_| client.sign_request(&p.clock, &request).unwrap())
        .collect();
    let mut verify = |s: &SignedRequest| {
        p.callee
            .verify_request(Some(&s.header_value), &request, &p.clock)
            .map(|_| ())
    };
    assert_eq!(verify(&signed[5]), Ok(()));
    assert_eq!(verify(&signed[3]), Ok(()));
    assert_eq!(verify(&signed[4]), Ok(()));
    assert_eq!(verify(&signed[3]), Err(TokiError::Replayed));
    // Counter 1026 moves the window to 3..=1026: counters 1 and 2 are now below it.
    assert_eq!(verify(&signed[WINDOW_BITS as usize + 1]), Ok(()));
    assert_eq!(verify(&signed[0]), Err(TokiError::BelowWindow));
    assert_eq!(verify(&signed[2]), Ok(()));
}

#[test]
fn responses_are_refused_for_each_reason() {
    let mut p = pair(TokiConfig::default());
    let mut client = p.connect();
    let digest = content_digest(b"");
    let request = parts("GET", "/", &digest);
    let signed = client.sign_request(&p.clock, &request).unwrap();
    let verified = p
        .callee
        .verify_request(Some(&signed.header_value), &request, &p.clock)
        .unwrap();
    let body = content_digest(b"balance: 10");
    let response = p.callee.sign_response(&verified, 200, &body).unwrap();
    let sent = signed.sent;
    let forged_body = content_digest(b"balance: 99");
    assert_eq!(
        client.verify_response(&sent, 200, &forged_body, Some(&response)),
        Err(TokiError::BadMac)
    );
    assert_eq!(
        client.verify_response(&sent, 500, &body, Some(&response)),
        Err(TokiError::BadMac)
    );
    assert_eq!(
        client.verify_response(&sent, 200, &body, None),
        Err(TokiError::MissingToken)
    );
    let other = client.sign_request(&p.clock, &request).unwrap();
    assert_eq!(
        client.verify_response(&other.sent, 200, &body, Some(&response)),
        Err(TokiError::ResponseMismatch)
    );
    // A response token is not a request token (different keys and canonical strings).
    let mut as_request = RequestToken::parse(&signed.header_value).unwrap();
    as_request.mac = ResponseToken::parse(&response).unwrap().mac;
    assert_eq!(
        p.callee
            .verify_request(Some(&as_request.encode()), &request, &p.clock)
            .map(|_| ()),
        Err(TokiError::BadMac)
    );
    assert_eq!(
        client.verify_response(&sent, 200, &body, Some(&response)),
        Ok(())
    );
}

#[test]
fn sessions_expire_on_both_sides() {
    let config = TokiConfig {
        session_lifetime_ms: 60_000,
        ..TokiConfig::default()
    };
    let mut p = pair(config);
    let mut client = p.connect();
    let digest = content_digest(b"");
    let request = parts("GET", "/", &digest);
    p.clock.advance(59_999);
    assert!(!client.needs_new_hello(&p.clock));
    let last = client.sign_request(&p.clock, &request).unwrap();
    p.clock.advance(1);
    assert!(client.needs_new_hello(&p.clock));
    assert_eq!(
        client.sign_request(&p.clock, &request).err(),
        Some(TokiError::SessionExpired)
    );
    let result = p
        .callee
        .verify_request(Some(&last.header_value), &request, &p.clock);
    assert_eq!(result, Err(TokiError::SessionExpired));
    assert_eq!(p.callee.session_count(), 0);
    let result = p
        .callee
        .verify_request(Some(&last.header_value), &request, &p.clock);
    assert_eq!(result, Err(TokiError::UnknownSession));
    let mut fresh = p.connect();
    assert_eq!(p.call(&mut fresh, "/"), Ok(()));
}

#[test]
fn keys_ratchet_every_n_calls_and_in_flight_answers_still_verify() {
    let config = TokiConfig {
        ratchet_every: 3,
        ..TokiConfig::default()
    };
    let mut p = pair(config);
    let mut client = p.connect();
    p.calls(&mut client, 3);
    assert_eq!(client.epoch(), 0);
    // The fourth call carries the ratchet flag; two plain calls are in flight beside it.
    let digest = content_digest(b"");
    let request = parts("GET", "/", &digest);
    let flagged = client.sign_request(&p.clock, &request).unwrap();
    let in_flight = client.sign_request(&p.clock, &request).unwrap();
    let late = client.sign_request(&p.clock, &request).unwrap();
    assert!(flagged.sent.token.wants_ratchet());
    assert!(!in_flight.sent.token.wants_ratchet());
    let answer = |p: &mut Pair, signed: &SignedRequest| {
        let verified = p
            .callee
            .verify_request(Some(&signed.header_value), &request, &p.clock)
            .unwrap();
        assert_eq!(verified.token.epoch, 0);
        p.callee.sign_response(&verified, 204, &digest).unwrap()
    };
    let flagged_answer = answer(&mut p, &flagged);
    let in_flight_answer = answer(&mut p, &in_flight);
    let check = |client: &mut ClientSession, signed: &SignedRequest, answer: &str| {
        client.verify_response(&signed.sent, 204, &digest, Some(answer))
    };
    assert_eq!(check(&mut client, &flagged, &flagged_answer), Ok(()));
    assert_eq!(client.epoch(), 1);
    // The answer signed with epoch-0 keys still verifies: epoch 0 is the previous epoch.
    assert_eq!(check(&mut client, &in_flight, &in_flight_answer), Ok(()));
    // The callee moves to epoch 1 on the first epoch-1 token...
    assert_eq!(p.call(&mut client, "/"), Ok(()));
    // ...and still accepts the epoch-0 request that was in flight.
    let late_answer = answer(&mut p, &late);
    assert_eq!(check(&mut client, &late, &late_answer), Ok(()));
    client.request_ratchet();
    p.calls(&mut client, 8);
    assert!(client.epoch() >= 3, "epoch {}", client.epoch());
}

#[test]
fn a_lost_ratchet_answer_does_not_split_the_session() {
    let mut p = pair(TokiConfig::default());
    let mut client = p.connect();
    client.request_ratchet();
    let digest = content_digest(b"");
    let request = parts("GET", "/", &digest);
    let flagged = client.sign_request(&p.clock, &request).unwrap();
    let verified = p
        .callee
        .verify_request(Some(&flagged.header_value), &request, &p.clock)
        .unwrap();
    let _lost = p.callee.sign_response(&verified, 200, &digest).unwrap();
    // The client never saw the answer: it stays in epoch 0 and, once the answer is presumed
    // lost, flags again.
    for _ in 1..RATCHET_RETRY_AFTER_CALLS {
        assert_eq!(p.call(&mut client, "/"), Ok(()));
        assert_eq!(client.epoch(), 0);
    }
    assert_eq!(p.call(&mut client, "/"), Ok(()));
    assert_eq!(client.epoch(), 1);
    assert_eq!(p.call(&mut client, "/"), Ok(()));
}

#[test]
fn a_slow_call_holds_the_ratchet_back_until_it_is_answered() {
    // Two ratchets while one call is in flight would erase its epoch on both sides: the
    // client waits with the second ratchet until the slow call is over.
    let config = TokiConfig {
        ratchet_every: 2,
        ..TokiConfig::default()
    };
    let mut p = pair(config);
    let mut client = p.connect();
    let digest = content_digest(b"");
    let request = parts("GET", "/", &digest);
    let slow = client.sign_request(&p.clock, &request).unwrap();
    p.calls(&mut client, 50);
    assert_eq!(client.epoch(), 1, "the first ratchet only");
    assert_eq!(client.in_flight(), 1);
    let verified = p
        .callee
        .verify_request(Some(&slow.header_value), &request, &p.clock)
        .unwrap();
    let answer = p.callee.sign_response(&verified, 200, &digest).unwrap();
    assert_eq!(
        client.verify_response(&slow.sent, 200, &digest, Some(&answer)),
        Ok(())
    );
    assert_eq!(client.in_flight(), 0);
    p.calls(&mut client, 6);
    assert!(client.epoch() >= 3, "epoch {}", client.epoch());
}

#[test]
fn an_abandoned_call_releases_the_ratchet_and_its_flag() {
    let mut p = pair(TokiConfig::default());
    let mut client = p.connect();
    client.request_ratchet();
    let digest = content_digest(b"");
    let request = parts("GET", "/", &digest);
    let flagged = client.sign_request(&p.clock, &request).unwrap();
    assert!(flagged.sent.token.wants_ratchet());
    // The connection failed before any answer: the next call carries the flag at once.
    client.abandon(&flagged.sent);
    assert_eq!(client.in_flight(), 0);
    assert_eq!(p.call(&mut client, "/"), Ok(()));
    assert_eq!(client.epoch(), 1);
}

#[test]
fn changing_any_character_of_a_request_token_is_refused() {
    let mut p = pair(TokiConfig::default());
    let mut client = p.connect();
    let digest = content_digest(b"");
    let request = parts("GET", "/", &digest);
    let signed = client.sign_request(&p.clock, &request).unwrap();
    let header = signed.header_value.as_bytes();
    for index in 0..header.len() {
        for replacement in [b'A', b'0', b'.', b'_'] {
            if header[index] == replacement {
                continue;
            }
            let mut changed = header.to_vec();
            changed[index] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            let result = p.callee.verify_request(Some(&changed), &request, &p.clock);
            assert!(result.is_err(), "{changed}");
        }
    }
    assert!(
        p.callee
            .verify_request(Some(&signed.header_value), &request, &p.clock)
            .is_ok()
    );
}

proptest::proptest! {
    /// A batch of requests signed on one session and delivered shuffled, with duplicates:
    /// every request verifies exactly once.
    #[test]
    fn shuffled_concurrent_requests_each_verify_once(
        deliveries in proptest::collection::vec(0usize..40, 1..120),
    ) {
        let mut p = pair(TokiConfig::default());
        let mut client = p.connect();
        let digest = content_digest(b"");
        let request = parts("GET", "/", &digest);
        let signed: Vec<_> = (0..40)
            .map(|_| client.sign_request(&p.clock, &request).unwrap())
            .collect();
        let mut seen = std::collections::HashSet::new();
        for index in deliveries {
            let result = p.callee.verify_request(Some(&signed[index].header_value), &request, &p.clock);
            if seen.insert(index) {
                proptest::prop_assert!(result.is_ok());
            } else {
                proptest::prop_assert_eq!(result, Err(TokiError::Replayed));
            }
        }
    }
}
