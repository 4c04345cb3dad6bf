//! Unauthenticated peers cannot keep authorised clients out: handshakes have a deadline (and one
//! for their first byte), a cap per source address and a cap in all, a full cap evicts from the
//! address that holds the most, and the accept loop never waits for any of them.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use keyway_transfer::{Client, Reply, ServerPin, TransferError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

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

/// A TCP connection to `server` from `source` (any of 127.0.0.0/8: Linux routes all of it to
/// the loopback interface), so that one test can play many hosts.
async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(server).await.unwrap()
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

/// 20 source addresses × 16 idle connections (each address at its own cap) filled the
/// server-wide cap of 256, and every connection beyond it was closed at once: an authorised
/// client from another address failed with "tls handshake eof" for as long as the flood was
/// renewed. A full server-wide cap now evicts from the address that holds the most.
#[tokio::test]
async fn idle_connections_from_many_addresses_do_not_lock_out_authorised_clients() {
    // Long deadlines: only the admission policy may let the client in, not a timeout.
    let s = start_configured(|c| {
        c.handshake_timeout = Duration::from_secs(60);
        c.first_byte_timeout = Duration::from_secs(60);
    })
    .await;
    let mut idle = Vec::new();
    for host in 2..=21 {
        for _ in 0..16 {
            idle.push(connect_from(Ipv4Addr::new(127, 0, 0, host), s.addr).await);
        }
    }
    // The server accepts in arrival order: the client comes after all 320 idle connections.
    let served = tokio::time::timeout(Duration::from_secs(5), send_hello(&s)).await;
    let reply = served
        .expect("320 idle connections from 20 addresses kept an authorised client waiting for 5 s")
        .expect("320 idle connections from 20 addresses kept an authorised client out");
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

/// Beyond the server-wide cap the newcomer is admitted and the oldest handshake of the address
/// holding the most is closed; the accept loop goes on.
#[tokio::test]
async fn beyond_the_handshake_cap_the_busiest_address_loses_its_oldest() {
    let s = start_configured(|c| {
        c.max_handshakes = 4;
        c.handshake_timeout = Duration::from_secs(60);
        c.first_byte_timeout = Duration::from_secs(60);
    })
    .await;
    let busy = Ipv4Addr::new(127, 0, 0, 2);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(busy, s.addr).await);
    }
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 3), s.addr).await;
    let mut newcomer = connect_from(Ipv4Addr::new(127, 0, 0, 4), s.addr).await;
    assert!(
        closed_within(&mut held[0], Duration::from_secs(5)).await,
        "the busiest address's oldest makes room"
    );
    // The server has admitted the newcomer by now (it evicted for it).
    for (what, stream) in [
        ("the newcomer", &mut newcomer),
        ("another address", &mut other),
        ("the busiest address's newer", &mut held[1]),
    ] {
        assert!(
            !closed_within(stream, Duration::from_millis(300)).await,
            "{what} keeps its place"
        );
    }
    // An authorised client (127.0.0.1) gets in as well, at the busy address's expense again.
    let served = tokio::time::timeout(Duration::from_secs(5), send_hello(&s))
        .await
        .expect("a full handshake cap kept an authorised client waiting")
        .unwrap();
    assert_eq!(served.status, 0);
    assert!(closed_within(&mut held[1], Duration::from_secs(5)).await);
}

/// A connection that sends nothing is closed at the first-byte deadline, well before the
/// handshake deadline; one that has sent a byte is left to the handshake deadline.
#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_first_byte_deadline() {
    let s = start_configured(|c| {
        c.first_byte_timeout = Duration::from_millis(300);
        c.handshake_timeout = Duration::from_secs(20);
    })
    .await;
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    let mut dribbling = TcpStream::connect(s.addr).await.unwrap();
    // The first byte of a TLS handshake record, and no more.
    dribbling.write_all(&[0x16]).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    assert!(
        !closed_within(&mut dribbling, Duration::from_secs(1)).await,
        "a connection that has sent a byte waits for the handshake deadline"
    );
}
