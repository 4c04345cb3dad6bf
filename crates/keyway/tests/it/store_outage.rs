//! A server database that stops answering without a reset (a partition, a frozen host): the
//! hub answers 503 at once instead of stalling every request for the pool's timeout, says so
//! on /readyz, and serves again when the database answers, without a restart.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cluster::Database;
use crate::harness::{Hub, poll, str_field};

/// A TCP relay to `target` that can be frozen: it then holds every byte and every new
/// connection, like a black-holed network, until thawed.
struct Freezer {
    port: u16,
    frozen: Arc<AtomicBool>,
}

fn relay(mut from: TcpStream, mut to: TcpStream, frozen: Arc<AtomicBool>) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        while frozen.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Freezer {
    fn start(target: String) -> Freezer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                while flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (f1, f2) = (flag.clone(), flag.clone());
                std::thread::spawn(move || relay(client, server, f1));
                std::thread::spawn(move || relay(s2, c2, f2));
            }
        });
        Freezer { port, frozen }
    }
}

#[test]
fn a_store_that_stops_answering_gets_fast_503s_and_recovers() {
    let Ok(base_url) = std::env::var("KEYWAY_TEST_POSTGRES_URL") else {
        keyway_kernel::report_skip(
            "store_outage",
            "KEYWAY_TEST_POSTGRES_URL is not set",
            "set it to a PostgreSQL server's URL (.ci/run does)",
        );
        return;
    };
    let db = Database::create("postgres", &base_url);
    let (rest, name) = db.url.rsplit_once('/').expect("URL");
    let (prefix, host) = rest.rsplit_once('@').expect("user@host");
    let freezer = Freezer::start(host.to_string());
    let through = format!("{prefix}@127.0.0.1:{}/{name}", freezer.port);
    let hub = Hub::start_with(&["--database", &through]);
    let client = hub.create_client(
        "svc",
        &["client_credentials"],
        "read",
        &["--database", &through],
    );
    let (id, secret) = (
        str_field(&client, "client_id"),
        str_field(&client, "client_secret"),
    );
    // Answers are awaited for 5 s at most: half the pool's acquire timeout.
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let token = || {
        http.post(hub.endpoint("/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    assert_eq!(token().expect("token").status(), 200);

    freezer.frozen.store(true, Ordering::Relaxed);
    let failing_fast = poll(Duration::from_secs(10), || {
        token().is_ok_and(|r| r.status() == 503)
    });
    assert!(
        failing_fast,
        "no fast 503 while the store is frozen:\n{}",
        hub.output()
    );
    let answer = token().expect("an answer, not a stall");
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "1");
    let body: serde_json::Value = answer.json().expect("JSON");
    assert_eq!(body["error"], "temporarily_unavailable");
    let ready = http.get(hub.endpoint("/readyz")).send().expect("readyz");
    assert_eq!(ready.status(), 503);
    assert_eq!(
        http.get(hub.endpoint("/healthz"))
            .send()
            .expect("healthz")
            .status(),
        200
    );

    freezer.frozen.store(false, Ordering::Relaxed);
    let recovered = poll(Duration::from_secs(20), || {
        token().is_ok_and(|r| r.status() == 200)
    });
    assert!(recovered, "the hub did not recover:\n{}", hub.output());
    assert!(
        hub.output().contains("the store does not answer"),
        "{}",
        hub.output()
    );
}
