//! The gateway's upstream connections (`gateway/upstream.rs`): kept between calls and used
//! again, passed over once the upstream has closed them, and closed after an answer that was
//! not read to its end. The upstream here is a bare HTTP/1.1 server that tells which of its
//! connections each request came on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::gateway::callable_api;
use crate::harness::{Backend, TestHub, client_credentials_token, http};

/// How the upstream treats a connection after answering on it.
#[derive(Clone, Copy, PartialEq)]
enum AfterAnswer {
    /// Waits for the next request on it (keep-alive).
    Keep,
    /// Closes it without saying so in the answer, as a server closing an idle connection does.
    Close,
}

/// A bare HTTP/1.1 upstream: every request (GET or HEAD, no body) is answered with
/// `{"connection":N}`, N counting its connections from 1; `/api/empty` answers 204 and
/// `/api/big` 8 MiB (more than loopback sockets buffer). Returns its base URL and its counts.
async fn counting_upstream(after: AfterAnswer) -> (String, Arc<Counts>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let counts = Arc::new(Counts::default());
    let count = counts.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let number = count.opened.fetch_add(1, Ordering::SeqCst) + 1;
            let count = count.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => {
                                count.closed_by_hub.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&seen[..end]).into_owned();
                    seen.drain(..end + 4);
                    let line = head.lines().next().unwrap_or_default();
                    let answer = if line.contains(" /api/empty ") {
                        b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()
                    } else {
                        let body = if line.contains(" /api/big ") {
                            vec![b'x'; BIG]
                        } else {
                            format!("{{\"connection\":{number}}}").into_bytes()
                        };
                        let mut answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        if !line.starts_with("HEAD ") {
                            answer.extend_from_slice(&body);
                        }
                        answer
                    };
                    if socket.write_all(&answer).await.is_err() {
                        count.closed_by_hub.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    if after == AfterAnswer::Close {
                        return;
                    }
                }
            });
        }
    });
    (base, counts)
}

const BIG: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Counts {
    opened: AtomicUsize,
    closed_by_hub: AtomicUsize,
}

/// A hub, a caller and a target whose API is `api`: the hub, the caller's token, the target.
async fn hub_calling(api: &str) -> (TestHub, String, String) {
    let hub = TestHub::start(&Backend::Sqlite).await;
    let caller = hub.client(&["client_credentials"], "x", &[]).await;
    let target = callable_api(&hub, &caller.0, api).await;
    let token = client_credentials_token(&hub, &caller.0, &caller.1).await;
    (hub, token, target)
}

#[tokio::test]
async fn upstream_connections_are_kept_and_used_again() {
    let (api, counts) = counting_upstream(AfterAnswer::Keep).await;
    let (hub, token, target) = hub_calling(&api).await;
    // One keep-alive connection to the hub: its calls run on one worker, one at a time.
    let client = http();
    let get = |path: &str| {
        client
            .get(hub.url(&format!("/gateway/{target}{path}")))
            .bearer_auth(&token)
            .send()
    };
    for round in 0..4 {
        let answer = get("/echo").await.unwrap();
        assert_eq!(answer.status(), 200, "round {round}");
        let seen: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(seen["connection"], 1, "round {round}: {seen}");
    }
    // Answers without a body, read or not by the caller, leave the connection open too.
    let empty = get("/empty").await.unwrap();
    assert_eq!(empty.status(), 204);
    let head = client
        .head(hub.url(&format!("/gateway/{target}/echo")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    // The length of the answer a GET would have had (RFC 9110 §9.3.2).
    assert_eq!(head.headers()["content-length"], "16");
    let big = get("/big").await.unwrap().bytes().await.unwrap();
    assert_eq!(big.len(), BIG);
    let seen: serde_json::Value = get("/echo").await.unwrap().json().await.unwrap();
    assert_eq!(seen["connection"], 1, "{seen}");
    assert_eq!(counts.opened.load(Ordering::SeqCst), 1);
    assert_eq!(counts.closed_by_hub.load(Ordering::SeqCst), 0);

    // A caller that stops reading a big answer midway: that upstream connection is closed.
    let mut socket = tokio::net::TcpStream::connect(hub.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!(
        "GET /gateway/{target}/big HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0u8; 1024];
    let n = socket.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    drop(socket);
    let mut waited = 0;
    while counts.closed_by_hub.load(Ordering::SeqCst) == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(
        counts.closed_by_hub.load(Ordering::SeqCst),
        1,
        "the cut-off answer's connection stayed open"
    );
    hub.finish().await;
}

#[tokio::test]
async fn connections_the_upstream_closed_are_passed_over() {
    let (api, counts) = counting_upstream(AfterAnswer::Close).await;
    let (hub, token, target) = hub_calling(&api).await;
    let client = http();
    for round in 1..=5 {
        let answer = client
            .get(hub.url(&format!("/gateway/{target}/echo")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "round {round}");
        let seen: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(seen["connection"], round, "{seen}");
        // The upstream's close reaches the hub before the next call.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counts.opened.load(Ordering::SeqCst), 5);
    hub.finish().await;
}
