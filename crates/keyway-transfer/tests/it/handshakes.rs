//! Unauthenticated peers cannot keep authorised clients out: handshakes have a deadline, a cap
//! per source address and a cap in all, and the accept loop never waits for any of them.

use std::time::Duration;

use keyway_transfer::{Client, Reply, ServerPin, TransferError};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::{Setup, start, start_configured};

/// Whether the server closes `stream` (EOF or reset) within `limit`, without a byte of
/// application data: a refused or abandoned handshake gets nothing.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn send_hello(s: &Setup) -> Result<Reply, TransferError> {
    let mut client =
        Client::connect(&s.addr.to_string(), &s.client, ServerPin::Key(s.server_key)).await?;
    client.send_message("hello").await
}

/// Holding connections open without sending a byte used to fill every handshake slot, so an
/// authorised client waited for the handshake timeout (10 s), again and again.
#[tokio::test]
async fn idle_connections_do_not_lock_out_authorised_clients() {
    let s = start(1 << 20).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(tokio::net::TcpStream::connect(s.addr).await.unwrap());
    }
    // Generous: the transfer itself takes milliseconds; before the fix it took ~10 s.
    let served = tokio::time::timeout(Duration::from_secs(5), send_hello(&s)).await;
    let reply = served
        .expect("300 idle connections kept an authorised client waiting for 5 s")
        .unwrap();
    assert_eq!(reply.status, 0);
    drop(idle);
}

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_handshake_deadline() {
    let s = start_configured(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_new_connection_from_an_address_at_its_cap_evicts_its_oldest() {
    let s = start_configured(|c| c.max_handshakes_per_address = 2).await;
    let mut oldest = TcpStream::connect(s.addr).await.unwrap();
    let _second = TcpStream::connect(s.addr).await.unwrap();
    let mut newest = TcpStream::connect(s.addr).await.unwrap();
    assert!(closed_within(&mut oldest, Duration::from_secs(5)).await);
    assert!(
        !closed_within(&mut newest, Duration::from_millis(300)).await,
        "the newest connection keeps its place"
    );
}

/// Beyond the server-wide cap a connection is closed at once, not queued: the accept loop
/// goes on, and slots come back as soon as their connections end.
#[tokio::test]
async fn beyond_the_handshake_cap_connections_are_closed_at_once() {
    let s = start_configured(|c| {
        c.max_handshakes = 4;
        c.handshake_timeout = Duration::from_secs(60);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(s.addr).await.unwrap());
    }
    let mut refused = TcpStream::connect(s.addr).await.unwrap();
    assert!(closed_within(&mut refused, Duration::from_secs(5)).await);
    for stream in &idle {
        assert!(stream.peer_addr().is_ok());
    }
    drop(idle);
    // The server notices the closed connections at once; the client may still race it.
    let served = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match send_hello(&s).await {
                Ok(reply) => return reply,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("slots were not given back");
    assert_eq!(served.status, 0);
}
