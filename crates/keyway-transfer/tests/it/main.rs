//! Loopback tests of the transfer protocol: round trips and every refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use keyway_transfer::{
    AuthorizedKeys, Client, Identity, Incoming, Kind, PublicKey, Reply, Server, ServerConfig,
    ServerPin, TransferError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod confinement;
mod files;
mod handshakes;
mod large_and_full;

struct Setup {
    addr: SocketAddr,
    server_key: PublicKey,
    client: Identity,
}

/// A server that answers (0, "<kind> <name> <len> <sha-ish>") and authorises one client key.
async fn start(max_body: u64) -> Setup {
    start_configured(|config| config.max_body = max_body).await
}

/// [`start`], with the server's configuration adjusted by `adjust`.
async fn start_configured(adjust: impl FnOnce(&mut ServerConfig)) -> Setup {
    let server_identity = Identity::generate().unwrap();
    let client = Identity::generate().unwrap();
    let authorized =
        AuthorizedKeys::parse(&format!("{} test-client", client.public_key())).unwrap();
    let server_key = server_identity.public_key();
    let mut config = ServerConfig::new(server_identity, authorized);
    adjust(&mut config);
    let server = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(|incoming: Incoming| async move {
        let status = if incoming.kind == Kind::Message { 0 } else { 7 };
        let sum: u64 = incoming.body.iter().map(|b| u64::from(*b)).sum();
        Reply::new(
            status,
            format!(
                "{} {} {} {} {}",
                incoming.kind.as_str(),
                incoming.name,
                incoming.body.len(),
                sum,
                incoming.rights.comment
            ),
        )
    }));
    Setup {
        addr,
        server_key,
        client,
    }
}

#[tokio::test]
async fn messages_and_data_round_trip_on_one_connection() {
    let s = start(64 << 20).await;
    let mut client = Client::connect(&s.addr.to_string(), &s.client, ServerPin::Key(s.server_key))
        .await
        .unwrap();
    let reply = client.send_message("hello").await.unwrap();
    assert_eq!(reply, Reply::new(0, "message  5 532 test-client"));
    let empty = client.send_data("empty.bin", &[]).await.unwrap();
    assert_eq!(empty, Reply::new(7, "data empty.bin 0 0 test-client"));
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = big.iter().map(|b| u64::from(*b)).sum();
    let reply = client.send_data("big.bin", &big).await.unwrap();
    assert_eq!(
        String::from_utf8(reply.body).unwrap(),
        format!("data big.bin 5000000 {sum} test-client")
    );
}

#[tokio::test]
async fn unknown_client_keys_are_refused() {
    let s = start(1 << 20).await;
    let stranger = Identity::generate().unwrap();
    let result = async {
        let mut client =
            Client::connect(&s.addr.to_string(), &stranger, ServerPin::Key(s.server_key)).await?;
        client.send_message("let me in").await
    }
    .await;
    assert!(
        result.is_err(),
        "an unauthorised key must get nothing: {result:?}"
    );
    // The server keeps serving authorised clients.
    let mut client = Client::connect(&s.addr.to_string(), &s.client, ServerPin::Key(s.server_key))
        .await
        .unwrap();
    assert_eq!(client.send_message("hi").await.unwrap().status, 0);
}

#[tokio::test]
async fn the_client_pins_the_server_key() {
    let s = start(1 << 20).await;
    let impostor = Identity::generate().unwrap().public_key();
    let err = Client::connect(&s.addr.to_string(), &s.client, ServerPin::Key(impostor))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, TransferError::ServerKeyMismatch { .. })
            && err
                .to_string()
                .contains("not the one given with --server-key"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known_hosts");
    let strict = ServerPin::KnownHosts {
        path: known.clone(),
        accept_new: false,
    };
    let err = Client::connect(&s.addr.to_string(), &s.client, strict.clone())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, TransferError::UnknownServer { .. }), "{err}");
    let accept = ServerPin::KnownHosts {
        path: known.clone(),
        accept_new: true,
    };
    Client::connect(&s.addr.to_string(), &s.client, accept)
        .await
        .unwrap();
    Client::connect(&s.addr.to_string(), &s.client, strict)
        .await
        .unwrap();
    assert!(
        std::fs::read_to_string(&known)
            .unwrap()
            .contains(&s.server_key.to_string())
    );
}

#[tokio::test]
async fn oversized_bodies_get_a_clear_error() {
    let s = start(1000).await;
    // Small enough to be written before the refusal arrives, and large enough that the
    // refusal arrives while the body is still being written: both get the server's reason.
    for len in [1001, 8 << 20] {
        let mut client =
            Client::connect(&s.addr.to_string(), &s.client, ServerPin::Key(s.server_key))
                .await
                .unwrap();
        let err = client.send_data("x", &vec![0u8; len]).await.err().unwrap();
        match err {
            TransferError::Remote { code, message } => {
                assert_eq!(code, 2);
                assert!(message.contains("exceeds"), "{message}");
            }
            other => panic!("{len} bytes: expected the server's refusal, got {other}"),
        }
    }
}

#[tokio::test]
async fn malformed_frames_after_the_handshake_get_a_protocol_error() {
    let s = start(1 << 20).await;
    let header = |kind: u8, len: u32| {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes
    };
    let mut truncated = header(0x01, 100);
    truncated.extend_from_slice(&[3, 0]);
    let cases: [(&str, Vec<u8>, bool); 4] = [
        ("unknown frame type", header(0x7f, 0), false),
        ("oversized frame", header(0x02, (1 << 20) + 1), false),
        ("data before any request", header(0x02, 3), false),
        ("truncated request", truncated, true),
    ];
    for (what, bytes, close) in cases {
        let mut client =
            Client::connect(&s.addr.to_string(), &s.client, ServerPin::Key(s.server_key))
                .await
                .unwrap();
        let mut bytes = bytes;
        if what == "data before any request" {
            bytes.extend_from_slice(b"abc");
        }
        match client.exchange_raw_for_testing(&bytes, close).await {
            Err(TransferError::Remote { code: 1, message }) => {
                assert!(!message.is_empty(), "{what}")
            }
            other => panic!("{what}: expected a protocol error, got {other:?}"),
        }
    }
    // Garbage after a good request, on a connection of its own, changes nothing either.
    let mut client = Client::connect(&s.addr.to_string(), &s.client, ServerPin::Key(s.server_key))
        .await
        .unwrap();
    assert_eq!(client.send_message("fine").await.unwrap().status, 0);
    assert!(matches!(
        client.exchange_raw_for_testing(&[0xee; 64], false).await,
        Err(TransferError::Remote { code: 1, .. })
    ));
    let mut client = Client::connect(&s.addr.to_string(), &s.client, ServerPin::Key(s.server_key))
        .await
        .unwrap();
    assert_eq!(
        client.send_message("still serving").await.unwrap().status,
        0
    );
}

#[tokio::test]
async fn garbage_instead_of_a_handshake_changes_nothing() {
    let s = start(1 << 20).await;
    let mut raw = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    raw.write_all(b"file /etc/passwd\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(5), raw.read_to_end(&mut buf)).await;
    // Whatever came back, no application data did; the server still works.
    assert!(!String::from_utf8_lossy(&buf).contains("root:"));
    let mut client = Client::connect(&s.addr.to_string(), &s.client, ServerPin::Key(s.server_key))
        .await
        .unwrap();
    assert_eq!(client.send_message("still here").await.unwrap().status, 0);
}

#[tokio::test]
async fn concurrent_clients() {
    let s = start(1 << 20).await;
    let addr = s.addr.to_string();
    let client = std::sync::Arc::new(s.client);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (addr, client, key) = (addr.clone(), client.clone(), s.server_key);
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(&addr, &client, ServerPin::Key(key))
                .await
                .unwrap();
            for j in 0..10 {
                let reply = c.send_message(&format!("{i}-{j}")).await.unwrap();
                assert_eq!(reply.status, 0);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
