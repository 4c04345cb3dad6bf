//! The server and token generator behind `bench/toki/run.sh` (not a test, not a library).
//!
//! `toki_bench serve`: two axum endpoints served twice on 127.0.0.1, with the toki layer and
//! without; prints `on=<port> off=<port>` and serves until killed. `GET /v1/hello` answers 5
//! bytes (the framework's floor); `GET /v1/entries` serialises 10 records to ~1 KiB of JSON
//! (a small real handler).
//!
//! `toki_bench tokens <base url> <path> <sessions> <count> <dir>`: opens `sessions` sessions
//! with the layered server and writes `count` request tokens for `GET <path>` per session to
//! `<dir>/<n>.txt`, one per line, for wrk to send (one session per wrk thread, so each thread's
//! counters arrive in order, well inside the replay window). Tokens are fresh for 30 s.
//! Against another callee (a keyway hub, bench/cluster): `TOKI_CALLER` names the caller (a
//! client whose toki key is `toki_bench caller-key`), `TOKI_CALLEE` and `TOKI_CALLEE_KEY` the
//! callee (the hub's `GET /toki/v1/hub`), and `TOKI_AUTHORITY` the Host the calls carry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use axum::{Router, routing::get};
use keyway_toki::*;
use keyway_toki_http::{HELLO_PATH, TokiLayer};

const CALLER_SEED: [u8; 32] = [1; 32];
const CALLEE_SEED: [u8; 32] = [2; 32];

fn id(name: &str) -> ServiceId {
    ServiceId::new(name).unwrap()
}

fn app() -> Router {
    Router::new()
        .route("/v1/hello", get(|| async { "hello" }))
        .route("/v1/entries", get(entries))
}

async fn entries() -> axum::Json<serde_json::Value> {
    let rows: Vec<_> = (0..10)
        .map(|i| {
            serde_json::json!({
                "id": 1000 + i,
                "account": format!("acct-{:06}", 4200 + i),
                "amount_cents": 12_345 * (i + 1),
                "currency": "EUR",
                "memo": "monthly settlement between orders and ledger",
                "posted": true,
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "entries": rows, "next": null }))
}

async fn serve() {
    let mut peers = StaticPeerKeys::new();
    peers.insert(
        id("bench-caller"),
        TokiKeyPair::from_seed(&CALLER_SEED).unwrap().public_key(),
    );
    let config = TokiConfig {
        ratchet_every: u64::MAX,
        ..TokiConfig::default()
    };
    let layer = TokiLayer::builder(
        id("bench-callee"),
        TokiKeyPair::from_seed(&CALLEE_SEED).unwrap(),
        peers,
    )
    .config(config)
    .build();
    let on = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let off = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!(
        "on={} off={}",
        on.local_addr().unwrap().port(),
        off.local_addr().unwrap().port()
    );
    std::io::stdout().flush().unwrap();
    let layered = tokio::spawn(async move { axum::serve(on, app().layer(layer)).await });
    let plain = tokio::spawn(async move { axum::serve(off, app()).await });
    let _ = tokio::join!(layered, plain);
}

async fn tokens(base: &str, path: &str, sessions: usize, count: usize, dir: &str) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();
    let (clock, entropy) = (SystemClock, SystemEntropy::default());
    let caller_key = TokiKeyPair::from_seed(&CALLER_SEED).unwrap();
    let callee_public = match std::env::var("TOKI_CALLEE_KEY") {
        Ok(key) => TokiPublicKey::parse(&key).unwrap(),
        Err(_) => TokiKeyPair::from_seed(&CALLEE_SEED).unwrap().public_key(),
    };
    let named = |var: &str, default: &str| id(&std::env::var(var).unwrap_or(default.into()));
    let (caller, callee) = (
        named("TOKI_CALLER", "bench-caller"),
        named("TOKI_CALLEE", "bench-callee"),
    );
    let config = TokiConfig {
        ratchet_every: u64::MAX,
        ..TokiConfig::default()
    };
    let authority = std::env::var("TOKI_AUTHORITY")
        .unwrap_or_else(|_| base.trim_start_matches("http://").to_owned());
    let empty = content_digest(b"");
    let parts = RequestParts {
        method: "GET",
        authority: &authority,
        path_and_query: path,
        content_digest: &empty,
    };
    for n in 0..sessions {
        let hello = PendingHello::new(
            &caller_key,
            caller.clone(),
            callee.clone(),
            clock.now_ms(),
            &entropy,
        )
        .unwrap();
        let welcome = http
            .post(format!("{base}{HELLO_PATH}"))
            .body(hello.wire().to_vec())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let mut session =
            ClientSession::establish(hello, &welcome, &callee_public, &clock, &config).unwrap();
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(format!("{dir}/{n}.txt")).unwrap());
        for _ in 0..count {
            let signed = session.sign_request(&clock, &parts).unwrap();
            writeln!(out, "{}", signed.header_value).unwrap();
        }
        out.flush().unwrap();
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve"] => serve().await,
        ["caller-key"] => println!(
            "{}",
            TokiKeyPair::from_seed(&CALLER_SEED).unwrap().public_key()
        ),
        ["tokens", base, path, sessions, count, dir] => {
            tokens(
                base,
                path,
                sessions.parse().unwrap(),
                count.parse().unwrap(),
                dir,
            )
            .await
        }
        _ => {
            eprintln!(
                "usage: toki_bench serve | toki_bench caller-key | toki_bench tokens <base url> <path> <sessions> <count> <dir>"
            );
            std::process::exit(2);
        }
    }
}
