//! A session handed from one callee to another (two nodes of a cluster): its bytes round
//! trip, the other callee verifies its calls and follows its ratchet, and stale news changes
//! nothing.

use super::*;

/// A second callee with the same identity and peers (another node of the same service).
fn other_node(p: &Pair) -> Callee<StaticPeerKeys> {
    let mut peers = StaticPeerKeys::new();
    peers.insert(id("orders"), p.caller_key.public_key());
    let key = TokiKeyPair::from_seed(&seed(0x20)).unwrap();
    Callee::new(id("ledger"), key, peers, p.config.clone())
}

fn session_of(client: &ClientSession) -> SessionId {
    client.session_id()
}

/// Copies the session through its byte form, as the hub's store carries it.
fn carried(state: SessionState) -> SessionState {
    let bytes = state.secret_bytes();
    SessionState::from_secret_bytes(&bytes, state.anchor).unwrap()
}

#[test]
fn a_session_moves_to_another_node_and_ratchets_there() {
    let config = TokiConfig {
        ratchet_every: 2,
        ..TokiConfig::default()
    };
    let mut p = pair(config);
    let mut client = p.connect();
    let id = session_of(&client);
    let mut node2 = other_node(&p);
    let state = carried(p.callee.session_state(&id).unwrap());
    node2.adopt_session(id, state, &p.clock).unwrap();
    assert_eq!(node2.session_epoch(&id), Some(0));

    // Calls verify at node 2; the ratchet anchor is answered by node 1.
    std::mem::swap(&mut p.callee, &mut node2);
    p.calls(&mut client, 2);
    std::mem::swap(&mut p.callee, &mut node2);
    p.calls(&mut client, 1); // flagged, answered by node 1: the client moves to epoch 1
    assert_eq!(client.epoch(), 1);
    // Node 2 cannot verify epoch 1 until it takes in node 1's anchor.
    std::mem::swap(&mut p.callee, &mut node2);
    assert_eq!(p.call(&mut client, "/"), Err(TokiError::UnknownEpoch));
    std::mem::swap(&mut p.callee, &mut node2);
    let state = carried(p.callee.session_state(&id).unwrap());
    assert!(state.anchor.is_some());
    node2.adopt_session(id, state, &p.clock).unwrap();
    std::mem::swap(&mut p.callee, &mut node2);
    p.calls(&mut client, 1);
    assert_eq!(p.callee.session_epoch(&id), Some(1));
    // News older than what node 2 holds changes nothing.
    let stale = carried(node2.session_state(&id).unwrap());
    let epoch_before = p.callee.session_epoch(&id);
    p.callee.adopt_session(id, stale, &p.clock).unwrap();
    assert_eq!(p.callee.session_epoch(&id), epoch_before);
    p.calls(&mut client, 4);
}

#[test]
fn shared_bytes_are_checked() {
    let mut p = pair(TokiConfig::default());
    let client = p.connect();
    let state = p.callee.session_state(&session_of(&client)).unwrap();
    let bytes = state.secret_bytes();
    assert!(SessionState::from_secret_bytes(&bytes, None).is_ok());
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(SessionState::from_secret_bytes(&longer, None).is_err());
    assert!(SessionState::from_secret_bytes(&bytes[..bytes.len() - 1], None).is_err());
    let mut version = bytes.to_vec();
    version[0] = 9;
    assert_eq!(
        SessionState::from_secret_bytes(&version, None).err(),
        Some(TokiError::UnsupportedVersion)
    );
    // An expired session is not taken in.
    let mut node2 = other_node(&p);
    let mut expired = carried(state);
    expired.expires_ms = p.clock.now_ms();
    node2
        .adopt_session(session_of(&client), expired, &p.clock)
        .unwrap();
    assert_eq!(node2.session_count(), 0);
}
