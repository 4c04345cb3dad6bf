//! A real axum server with the layer, a client, and a byte-level proxy that can alter traffic.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::{get, post};
use axum::{Extension, Router};
use keyway_toki::*;
use keyway_toki_http::{HELLO_PATH, TokiClient, TokiLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub(crate) fn id(name: &str) -> ServiceId {
    ServiceId::new(name).unwrap()
}

pub(crate) const BODY_LIMIT: usize = 4096;

pub(crate) struct Keys {
    pub orders: [u8; 32],
    pub ledger: [u8; 32],
}

pub(crate) const KEYS: Keys = Keys {
    orders: [1; 32],
    ledger: [2; 32],
};

pub(crate) fn app() -> Router {
    Router::new()
        .route(
            "/v1/echo",
            post(|body: String| async move { (axum::http::StatusCode::CREATED, format!("echo:{body}")) }),
        )
        .route(
            "/v1/whoami",
            get(|Extension(call): Extension<VerifiedRequest>| async move { call.caller.to_string() }),
        )
        .route("/admin", get(|| async { "secret" }))
}

/// Starts the ledger service with the layer on 127.0.0.1:0; returns its base URL and layer.
pub(crate) async fn start_server(clock: Arc<ManualClock>) -> (String, TokiLayer) {
    let mut peers = StaticPeerKeys::new();
    peers.insert(
        id("orders"),
        TokiKeyPair::from_seed(&KEYS.orders).unwrap().public_key(),
    );
    let layer = TokiLayer::builder(
        id("ledger"),
        TokiKeyPair::from_seed(&KEYS.ledger).unwrap(),
        peers,
    )
    .clock(clock)
    .body_limit(BODY_LIMIT)
    .authorize(|_caller, _method, path| path.starts_with("/v1/"))
    .build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = app().layer(layer.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, layer)
}

pub(crate) fn client(clock: Arc<ManualClock>, config: TokiConfig) -> TokiClient {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    TokiClient::builder(
        reqwest::Client::new(),
        id("orders"),
        TokiKeyPair::from_seed(&KEYS.orders).unwrap(),
        id("ledger"),
        TokiKeyPair::from_seed(&KEYS.ledger).unwrap().public_key(),
    )
    .clock(clock)
    .config(config)
    .build()
}

/// How the proxy alters the next exchanges (handshakes always pass untouched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tamper {
    Nothing,
    RequestBody,
    ResponseBody,
    StripResponseToki,
    ForgeResponseToki,
}

/// An HTTP/1.1 proxy for Content-Length framed messages, altering bytes as told.
pub(crate) struct Proxy {
    pub base: String,
    pub tamper: Arc<Mutex<Tamper>>,
    /// The last request forwarded, byte for byte (for replays).
    pub last_request: Arc<Mutex<Vec<u8>>>,
}

pub(crate) async fn start_proxy(upstream: &str) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let tamper = Arc::new(Mutex::new(Tamper::Nothing));
    let last_request = Arc::new(Mutex::new(Vec::new()));
    let (mode, last) = (tamper.clone(), last_request.clone());
    tokio::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let (upstream, mode, last) = (upstream.clone(), mode.clone(), last.clone());
            tokio::spawn(async move {
                let _ = relay(client, &upstream, mode, last).await;
            });
        }
    });
    Proxy {
        base,
        tamper,
        last_request,
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: &str,
    mode: Arc<Mutex<Tamper>>,
    last: Arc<Mutex<Vec<u8>>>,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    let (mut from_client, mut from_server) = (Vec::new(), Vec::new());
    loop {
        let Some((head, mut body)) = read_message(&mut client, &mut from_client).await? else {
            return Ok(());
        };
        let handshake = head.contains(HELLO_PATH);
        let tamper = if handshake {
            Tamper::Nothing
        } else {
            *mode.lock().unwrap()
        };
        if tamper == Tamper::RequestBody {
            body[0] ^= 0x01;
        }
        let request = [head.as_bytes(), &body].concat();
        *last.lock().unwrap() = request.clone();
        server.write_all(&request).await?;
        let (mut head, mut body) = read_message(&mut server, &mut from_server)
            .await?
            .expect("server closed");
        match tamper {
            Tamper::ResponseBody => body[0] ^= 0x01,
            Tamper::StripResponseToki => {
                head = head
                    .split("\r\n")
                    .filter(|line| !line.to_ascii_lowercase().starts_with("oscartoki:"))
                    .collect::<Vec<_>>()
                    .join("\r\n");
            }
            Tamper::ForgeResponseToki => {
                let at = head.find("oscartoki: ").unwrap();
                let end = at + head[at..].find("\r\n").unwrap();
                // Swap a character in the middle of the MAC: still well-formed base64url.
                let mut bytes = head.into_bytes();
                let position = end - 10;
                bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
                head = String::from_utf8(bytes).unwrap();
            }
            _ => {}
        }
        client.write_all(head.as_bytes()).await?;
        client.write_all(&body).await?;
    }
}

/// Reads one message framed by Content-Length; `None` at a clean end of stream.
async fn read_message(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buffer[..end + 4].to_vec()).unwrap();
            let length = head
                .split("\r\n")
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            assert!(!head.to_ascii_lowercase().contains("transfer-encoding"));
            while buffer.len() < end + 4 + length {
                read_more(stream, buffer).await?;
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            buffer.drain(..end + 4 + length);
            return Ok(Some((head, body)));
        }
        if read_more(stream, buffer).await? == 0 {
            return Ok(None);
        }
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 8192];
    let read = stream.read(&mut chunk).await?;
    if read == 0 && !buffer.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buffer.extend_from_slice(&chunk[..read]);
    Ok(read)
}

/// Sends raw bytes on a fresh connection and returns the answer's head.
pub(crate) async fn send_raw(base: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut buffer = Vec::new();
    let (head, _) = read_message(&mut stream, &mut buffer)
        .await
        .unwrap()
        .unwrap();
    head
}
