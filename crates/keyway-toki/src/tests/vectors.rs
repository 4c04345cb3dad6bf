//! The test vectors of docs/toki.md, recomputed from fixed keys, randomness and times. The
//! expected values were cross-checked with Python's hashlib/hmac and `cryptography`.

use super::*;
use crate::hello::Ephemeral;
use crate::keys::{
    LABEL_REQUEST_KEY, LABEL_RESPONSE_KEY, epoch_key, ratchet_root, session_root, transcript_hash,
};
use crate::*;

/// RFC 7748 §6.1: Alice's and Bob's private keys, public keys and their shared secret.
const ALICE_PRIVATE: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const ALICE_PUBLIC: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const BOB_PRIVATE: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const BOB_PUBLIC: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const SHARED_SECRET: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> [u8; N] {
    std::array::from_fn(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
}

/// Runs the whole vector scenario and returns every intermediate value by name.
fn scenario() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let caller_key = TokiKeyPair::from_seed(&seed(0x00)).unwrap();
    let callee_key = TokiKeyPair::from_seed(&seed(0x20)).unwrap();
    out.push(("caller_public", hex(&caller_key.public_key().0)));
    out.push(("callee_public", hex(&callee_key.public_key().0)));
    let callee_public = callee_key.public_key();
    let mut peers = StaticPeerKeys::new();
    peers.insert(id("orders"), caller_key.public_key());
    let config = TokiConfig::default();
    let mut callee = Callee::new(id("ledger"), callee_key, peers, config.clone());
    let clock = ManualClock::new(T0);

    let nonce: [u8; 16] = std::array::from_fn(|i| 0xa0 + i as u8);
    let alice = unhex::<32>(ALICE_PRIVATE);
    let caller_entropy = ScriptedEntropy::new(&[&alice, &nonce]);
    let pending =
        PendingHello::new(&caller_key, id("orders"), id("ledger"), T0, &caller_entropy).unwrap();
    assert_eq!(hex(&pending.hello().ephemeral_public), ALICE_PUBLIC);
    out.push((
        "hello_signature_input",
        hex(&pending.hello().signature_input()),
    ));
    out.push(("hello_wire", hex(pending.wire())));

    let session: [u8; 16] = std::array::from_fn(|i| 0xb0 + i as u8);
    let bob = unhex::<32>(BOB_PRIVATE);
    clock.set(T0 + 250);
    let callee_entropy = ScriptedEntropy::new(&[&bob, &session]);
    let hello_wire = pending.wire().to_vec();
    let welcome = callee
        .accept_hello(&hello_wire, &clock, &callee_entropy)
        .unwrap();
    let parsed = Welcome::from_wire(&welcome).unwrap();
    assert_eq!(hex(&parsed.ephemeral_public), BOB_PUBLIC);
    out.push((
        "welcome_signature_input",
        hex(&parsed.signature_input(&hello_wire)),
    ));
    out.push(("welcome_wire", hex(&welcome)));

    // The key schedule, step by step, from the RFC 7748 shared secret.
    let agreed = Ephemeral::from_private_bytes(&alice)
        .unwrap()
        .into_session_root(&unhex(BOB_PUBLIC), &transcript_hash(&hello_wire, &welcome))
        .unwrap();
    let transcript = transcript_hash(&hello_wire, &welcome);
    out.push(("transcript_hash", hex(&transcript)));
    let root0 = session_root(&unhex::<32>(SHARED_SECRET), &transcript).unwrap();
    assert_eq!(*agreed, *root0, "X25519 in aws-lc agrees with RFC 7748");
    out.push(("root_0", hex(root0.as_ref())));
    out.push((
        "request_key_0",
        hex(epoch_key(&root0, LABEL_REQUEST_KEY, 0).unwrap().as_ref()),
    ));
    out.push((
        "response_key_0",
        hex(epoch_key(&root0, LABEL_RESPONSE_KEY, 0).unwrap().as_ref()),
    ));

    clock.set(T0 + 300);
    let mut client =
        ClientSession::establish(pending, &welcome, &callee_public, &clock, &config).unwrap();

    // Call 1: POST with a JSON body, answered 201.
    clock.set(T0 + 1_000);
    let body1 = content_digest(b"{\"amount\":100}");
    out.push(("content_digest_1", body1.clone()));
    let request1 = RequestParts {
        method: "POST",
        authority: "ledger.internal:8443",
        path_and_query: "/v1/entries?account=42",
        content_digest: &body1,
    };
    let signed1 = client.sign_request(&clock, &request1).unwrap();
    let token1 = signed1.sent.token;
    out.push((
        "canonical_request_1",
        canonical_request(&id("orders"), &id("ledger"), &token1, &request1),
    ));
    out.push(("request_token_1", signed1.header_value.clone()));
    let verified1 = callee
        .verify_request(Some(&signed1.header_value), &request1, &clock)
        .unwrap();
    let answer1 = content_digest(b"{\"id\":7}");
    out.push((
        "canonical_response_1",
        canonical_response(&id("orders"), &id("ledger"), &token1, 201, &answer1),
    ));
    let response1 = callee.sign_response(&verified1, 201, &answer1).unwrap();
    out.push(("response_token_1", response1.clone()));
    client
        .verify_response(&signed1.sent, 201, &answer1, Some(&response1))
        .unwrap();

    // Call 2: GET with an empty body and the ratchet flag, answered 200.
    clock.set(T0 + 2_000);
    client.request_ratchet();
    let empty = content_digest(b"");
    let request2 = RequestParts {
        method: "GET",
        authority: "ledger.internal:8443",
        path_and_query: "/v1/entries/7",
        content_digest: &empty,
    };
    let signed2 = client.sign_request(&clock, &request2).unwrap();
    out.push(("request_token_2", signed2.header_value.clone()));
    let verified2 = callee
        .verify_request(Some(&signed2.header_value), &request2, &clock)
        .unwrap();
    let answer2 = content_digest(b"{\"id\":7,\"amount\":100}");
    let response2 = callee.sign_response(&verified2, 200, &answer2).unwrap();
    out.push(("response_token_2", response2.clone()));
    client
        .verify_response(&signed2.sent, 200, &answer2, Some(&response2))
        .unwrap();
    assert_eq!(client.epoch(), 1);

    // Epoch 1, anchored on call 2.
    let response2_mac = ResponseToken::parse(&response2).unwrap().mac;
    let root1 = ratchet_root(&root0, 1, &signed2.sent.token.mac, &response2_mac).unwrap();
    out.push(("root_1", hex(root1.as_ref())));
    out.push((
        "request_key_1",
        hex(epoch_key(&root1, LABEL_REQUEST_KEY, 1).unwrap().as_ref()),
    ));

    // Call 3: DELETE in epoch 1.
    clock.set(T0 + 3_000);
    let request3 = RequestParts {
        method: "DELETE",
        ..request2
    };
    let signed3 = client.sign_request(&clock, &request3).unwrap();
    out.push(("request_token_3", signed3.header_value.clone()));
    let verified3 = callee
        .verify_request(Some(&signed3.header_value), &request3, &clock)
        .unwrap();
    assert_eq!(verified3.token.epoch, 1);

    // A broker message from `orders`, signed with its toki key (no session).
    let route = MessageRoute::Amqp {
        exchange: "ledger.events",
        routing_key: "entry.created",
    };
    let message_body = b"{\"id\":7,\"amount\":100}";
    let message_id: [u8; 16] = std::array::from_fn(|i| 0xc0 + i as u8);
    let signer = MessageSigner::new(id("orders"), TokiKeyPair::from_seed(&seed(0x00)).unwrap());
    let message = signer
        .sign_with_id(&route, message_body, message_id, T0 + 4_000)
        .unwrap();
    out.push((
        "canonical_message",
        canonical_message(
            &id("orders"),
            &route,
            &message_id,
            message.created_ms,
            &content_digest(message_body),
        ),
    ));
    out.push(("message_token", message.encode()));
    let mut consumers = StaticPeerKeys::new();
    consumers.insert(id("orders"), caller_key.public_key());
    let mut verifier = MessageVerifier::new(consumers, MessagePolicy::default());
    clock.set(T0 + 5_000);
    let verified = verifier
        .verify(Some(&message.encode()), &route, message_body, &clock)
        .unwrap();
    assert_eq!(verified.sender, id("orders"));
    out
}

/// The values of docs/toki.md, produced independently by `vectors/check_vectors.py`.
const EXPECTED: &[(&str, &str)] = &[
    (
        "caller_public",
        "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
    ),
    (
        "callee_public",
        "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7",
    ),
    (
        "hello_signature_input",
        "6b65797761792d746f6b692076312068656c6c6f000100066f726465727300066c65646765728520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a0000019b76daa800a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
    ),
    (
        "hello_wire",
        "0100066f726465727300066c65646765728520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a0000019b76daa800a0a1a2a3a4a5a6a7a8a9aaabacadaeaf42fc959c6a17455b5f4ad58ca52c88d59c3bbc642fc339d46a6bb28536f9061baea61529985c79d6e3ed45db9705846102c221d055b5676e3728298e47c59f0e",
    ),
    (
        "welcome_signature_input",
        "6b65797761792d746f6b692076312077656c636f6d65000100066f726465727300066c65646765728520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a0000019b76daa800a0a1a2a3a4a5a6a7a8a9aaabacadaeaf42fc959c6a17455b5f4ad58ca52c88d59c3bbc642fc339d46a6bb28536f9061baea61529985c79d6e3ed45db9705846102c221d055b5676e3728298e47c59f0e01b0b1b2b3b4b5b6b7b8b9babbbcbdbebfde9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
    ),
    (
        "welcome_wire",
        "01b0b1b2b3b4b5b6b7b8b9babbbcbdbebfde9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4fdcf6975c9864aab29c7024d0ee0ac2d41b5e36d2945d0ac7392b08f145e98843f05479c2e72b7584d44295397f1377c7b257bd0a9ed7b1cbfc033a0b80370804",
    ),
    (
        "transcript_hash",
        "301edc7ceed1aafad588c9cdcb7ee4180dd3221b7112cf84111532c4ef1344a9",
    ),
    (
        "root_0",
        "72f29f1294f39598d18b8e9db21e0b5659706c74414b47d406a551953a035caa",
    ),
    (
        "request_key_0",
        "fff49db5260c258e91e1b7461ae6a1e2a768dc15d6b6ae336db8c1ae295e1a94",
    ),
    (
        "response_key_0",
        "f82992cc6e6f243437fef2e93198b7d41659c5f5276a98be7a81465e296db223",
    ),
    (
        "content_digest_1",
        "sha-256=:TUu+Wcaq0iRCzeGZpqil8DRAX814+1qBwk7ySd4cRfE=:",
    ),
    (
        "canonical_request_1",
        "keyway-toki v1 request\norders\nledger\nsLGys7S1tre4ubq7vL2-vw\n0\n1\n1767225601000\n0\nPOST\nledger.internal:8443\n/v1/entries?account=42\nsha-256=:TUu+Wcaq0iRCzeGZpqil8DRAX814+1qBwk7ySd4cRfE=:",
    ),
    (
        "request_token_1",
        "v1.sLGys7S1tre4ubq7vL2-vw.0.1.1767225601000.0.XQhdMnojwWko_FmFkzaFdlj67avgiOa4Y_gwHGE3IgI",
    ),
    (
        "canonical_response_1",
        "keyway-toki v1 response\norders\nledger\nsLGys7S1tre4ubq7vL2-vw\n0\n1\nXQhdMnojwWko_FmFkzaFdlj67avgiOa4Y_gwHGE3IgI\n201\nsha-256=:o8kOO3RI0j2erOvQ6/FcrhAOIfmyxojz+dI47c0m1n8=:",
    ),
    (
        "response_token_1",
        "v1.sLGys7S1tre4ubq7vL2-vw.0.1.RQxMHXlHKlfwu9XWKnguY49n9nSAl34gdWoaiAkUOng",
    ),
    (
        "request_token_2",
        "v1.sLGys7S1tre4ubq7vL2-vw.0.2.1767225602000.1.5NSgHghrpwFRzGjsC8c8y-hhhkazlI3Ap2H3evO2Exs",
    ),
    (
        "response_token_2",
        "v1.sLGys7S1tre4ubq7vL2-vw.0.2.NxhJZRwri5JmNBcVe6iZclLzi-jQzTu0iBqsCJXGMFg",
    ),
    (
        "root_1",
        "b66b487eb17b6b3cbb6da390062e8108ba26380fdfe5427aed37743194877374",
    ),
    (
        "request_key_1",
        "cff8031e28bc30e4381c9e331833bce532e35342c290350b6ed8c68b1f40c3ee",
    ),
    (
        "request_token_3",
        "v1.sLGys7S1tre4ubq7vL2-vw.1.3.1767225603000.0.KShZvXuYb4Z6UMNH_grZ9VoYUAjFjXD6zFI3NTqJjHk",
    ),
    (
        "canonical_message",
        "keyway-toki v1 message\norders\namqp\nledger.events\nentry.created\nwMHCw8TFxsfIycrLzM3Ozw\n1767225604000\nsha-256=:FnexXXLlLTxTQjbwTiIjJ+Y0DyPP8GCspVlBlbmDdGM=:",
    ),
    (
        "message_token",
        "m1.wMHCw8TFxsfIycrLzM3Ozw.1767225604000.Zv90BVbZJpTS8nHRb8NPklwzvOAwQRorf-Mn4xVGadtf_PuKEEuMiHWEZc_EGZhu_Kgalzxje1OS4wEzFr5sBg.orders",
    ),
];

/// Prints the vectors (`cargo test -p keyway-toki vectors -- --nocapture`) in the format of
/// `check_vectors.py`, and checks each one.
#[test]
fn spec_vectors_match() {
    let computed = scenario();
    for (name, value) in &computed {
        println!("{name} = {value:?}");
    }
    let names: Vec<_> = computed.iter().map(|(name, _)| *name).collect();
    let expected_names: Vec<_> = EXPECTED.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected_names);
    for ((name, value), (_, expected)) in computed.iter().zip(EXPECTED) {
        assert_eq!(value, expected, "{name}");
    }
}

/// The Python implementation (`vectors/check_vectors.py`) prints the same table. Skipped when
/// `python3` or its `cryptography` package is missing.
#[test]
fn python_implementation_agrees() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/check_vectors.py");
    let output = match std::process::Command::new("python3").arg(script).output() {
        Ok(output) => output,
        Err(error) => {
            eprintln!("skipped: python3 not available ({error})");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named 'cryptography'") {
        eprintln!("skipped: python3 has no `cryptography`");
        return;
    }
    assert!(output.status.success(), "{stderr}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let expected: String = EXPECTED
        .iter()
        .map(|(name, value)| format!("{name} = {value:?}\n"))
        .collect();
    assert_eq!(printed, expected);
}
