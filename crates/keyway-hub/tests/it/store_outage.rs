//! A store that goes away and comes back (issue 19): while it is unreachable the hub answers
//! at once with 503 (`temporarily_unavailable`) and `/readyz` fails; once it is back, requests
//! succeed again without a restart. The database is reached through a TCP proxy the test cuts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::harness::{Backend, TestHub, backends, post_form};

/// A TCP proxy to the database that can be cut (every connection dropped, new ones refused)
/// and restored.
struct Cuttable {
    port: u16,
    open: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Cuttable {
    async fn to(upstream: String) -> Cuttable {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (accepting, connections) = (open.clone(), live.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(task.abort_handle());
            }
        });
        Cuttable { port, open, live }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for task in self.live.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// `url` with its `host:port` replaced by the proxy's.
fn through(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let at = rest.find('@').map_or(0, |i| i + 1);
    let end = rest[at..].find('/').map_or(rest.len(), |i| at + i);
    let upstream = rest[at..end].to_string();
    let rewritten = format!("{scheme}://{}127.0.0.1:{port}{}", &rest[..at], &rest[end..]);
    (rewritten, upstream)
}

#[tokio::test]
async fn a_store_that_goes_away_and_comes_back() {
    for backend in backends() {
        if matches!(backend, Backend::Sqlite) {
            continue; // an embedded file does not go away
        }
        let one = TestHub::start(&backend).await;
        let label = one.backend.clone();
        let (_, upstream) = through(&one.database_url, 0);
        let proxy = Cuttable::to(upstream).await;
        let (url, _) = through(&one.database_url, proxy.port);
        let node = one.second_node_on(&url).await;
        let (id, secret) = one.client(&["client_credentials"], "read", &[]).await;
        let token = async || {
            let (status, _, body) = post_form(
                &node.url("/oauth2/token"),
                Some((&id, &secret)),
                &[("grant_type", "client_credentials")],
            )
            .await;
            (status, body)
        };
        let ready = async || {
            reqwest::get(node.url("/readyz"))
                .await
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(token().await.0, 200, "{label}");
        assert_eq!(ready().await, 200, "{label}");

        proxy.cut();
        // The client lookup cache (1 s, on the hub's clock) must not answer for the store.
        node.clock.advance_ms(2_000);
        let started = Instant::now();
        let (status, body) = token().await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{label}: {body}");
        assert_eq!(body["error"], "temporarily_unavailable", "{label}: {body}");
        assert!(
            took < Duration::from_secs(8),
            "{label}: failed after {took:?}"
        );
        assert_eq!(ready().await, 503, "{label}");
        eprintln!("{label}: with the store away, a token request failed in {took:?}");

        proxy.restore();
        let started = Instant::now();
        loop {
            let (status, body) = token().await;
            if status == 200 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{label}: no recovery: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(ready().await, 200, "{label}");
        eprintln!(
            "{label}: recovered {:?} after the store came back",
            started.elapsed()
        );
        node.finish().await;
        one.finish().await;
    }
}
