//! What the `toki-orders` and `toki-ledger` examples share: a small service registered at the
//! hub that answers toki calls, calls its peer every so often, and reports both to the hub's
//! activity map. Configured by environment variables (docs: README, "A tour", step 4):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `KEYWAY_HUB` | the hub's base URL | `http://127.0.0.1:8080` |
//! | `TOKI_ID`, `TOKI_SECRET` | this service's OAuth client at the hub (scopes `toki:peers activity:report` and the peer's `…:call`) | required |
//! | `TOKI_KEY` | this service's private key file (`keyway transfer keygen -f FILE`), its `.pub` registered with `keyway client add-toki-key` | required |
//! | `PEER_ID` | the client_id of the service it calls | required |
//! | `LISTEN`, `PEER_URL` | where it listens, where its peer listens | per service |
//! | `CALL_EVERY_MS` | pause between its calls | per service |
//! | `KEYWAY_CA_FILE` | a private CA (PEM) trusted besides the public roots, for an https hub or peer | none |

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use keyway_toki::{ServiceId, TokiKeyPair};
use keyway_toki_http::{
    HubCredentials, HubPeerKeys, HubSession, ReporterConfig, TokiClient, TokiLayer, remember_route,
    spawn_reporter,
};

/// A service's settings, from the environment.
pub(crate) struct Settings {
    pub(crate) hub: String,
    pub(crate) id: ServiceId,
    pub(crate) secret: String,
    /// The private key as PKCS#8 (a key pair is made from it for the layer and the client).
    key_der: Vec<u8>,
    pub(crate) peer: ServiceId,
    pub(crate) listen: String,
    pub(crate) peer_url: String,
    pub(crate) every: Duration,
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| {
        format!("set {name} (see the table at the top of examples/shared/toki_service.rs)")
    })
}

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

impl Settings {
    pub(crate) fn from_env(
        listen: &str,
        peer_url: &str,
        every_ms: u64,
    ) -> Result<Settings, String> {
        let key_file = var("TOKI_KEY")?;
        let every = var_or("CALL_EVERY_MS", &every_ms.to_string())
            .parse::<u64>()
            .map_err(|_| "CALL_EVERY_MS must be a number of milliseconds".to_string())?;
        Ok(Settings {
            hub: var_or("KEYWAY_HUB", "http://127.0.0.1:8080")
                .trim_end_matches('/')
                .to_string(),
            id: ServiceId::new(var("TOKI_ID")?).map_err(|e| format!("TOKI_ID: {e}"))?,
            secret: var("TOKI_SECRET")?,
            key_der: load_key(&key_file)?,
            peer: ServiceId::new(var("PEER_ID")?).map_err(|e| format!("PEER_ID: {e}"))?,
            listen: var_or("LISTEN", listen),
            peer_url: var_or("PEER_URL", peer_url)
                .trim_end_matches('/')
                .to_string(),
            every: Duration::from_millis(every.max(10)),
        })
    }
}

impl Settings {
    fn key(&self) -> Result<TokiKeyPair, String> {
        TokiKeyPair::from_pkcs8(&self.key_der).map_err(|e| format!("TOKI_KEY: {e}"))
    }
}

/// Reads a PEM PKCS#8 Ed25519 private key, as `keyway transfer keygen` writes it.
fn load_key(path: &str) -> Result<Vec<u8>, String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("TOKI_KEY {path}: {e}"))?;
    if pem.starts_with("keyway-ed25519 ") {
        return Err(format!(
            "TOKI_KEY {path} is the public half: give the private key file"
        ));
    }
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|_| format!("TOKI_KEY {path} is not a PEM private key"))?;
    TokiKeyPair::from_pkcs8(&der).map_err(|e| format!("TOKI_KEY {path}: {e}"))?;
    Ok(der)
}

/// Serves `routes` behind a toki layer that learns callers (and their scopes) from the hub,
/// admits those holding `required_scope`, and reports every call to the activity map; then
/// calls the peer with `next_call(n)` every `settings.every` until Ctrl-C.
pub(crate) async fn run(
    name: &'static str,
    settings: Settings,
    required_scope: &'static str,
    routes: axum::Router,
    next_call: impl Fn(u64) -> (reqwest::Method, String, String),
) -> Result<(), String> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    // A hub or peer whose certificate a private CA signed (docs/deploy.md, "TLS").
    if let Ok(path) = std::env::var("KEYWAY_CA_FILE") {
        let pem = std::fs::read(&path).map_err(|e| format!("KEYWAY_CA_FILE {path}: {e}"))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("KEYWAY_CA_FILE {path}: {e}"))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    let http = builder.build().map_err(|e| e.to_string())?;
    let session = Arc::new(HubSession::new(
        http.clone(),
        HubCredentials {
            hub_url: settings.hub.clone(),
            client_id: settings.id.as_str().to_string(),
            client_secret: settings.secret.clone(),
            scope: "toki:peers activity:report".into(),
        },
    ));
    // Fail early and clearly when the hub, the credentials or the scopes are wrong.
    session.bearer().await.map_err(|e| {
        format!(
            "cannot get a token from {} as {}: {e}",
            settings.hub,
            settings.id.as_str()
        )
    })?;
    let peers = HubPeerKeys::new(session.clone());
    let (sink, _reporter) = spawn_reporter(session, ReporterConfig::default());
    let rule = peers.clone();
    let layer = TokiLayer::builder(settings.id.clone(), settings.key()?, peers.clone())
        .resolver(peers.clone())
        .authorize(move |caller, _method, _path| rule.has_scope(caller, required_scope))
        .activity(sink)
        .build();
    let app = routes
        .route_layer(axum::middleware::from_fn(remember_route))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    eprintln!(
        "{name} ({}) listening on http://{}; calling {} at {} every {:?}",
        settings.id.as_str(),
        settings.listen,
        settings.peer.as_str(),
        settings.peer_url,
        settings.every
    );
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            eprintln!("{name}: server stopped: {err}");
        }
    });

    let mut client: Option<TokiClient> = None;
    let mut last_status: Option<String> = None;
    let mut n = 0u64;
    let mut ticker = tokio::time::interval(settings.every);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = ticker.tick() => {}
        }
        n += 1;
        if client.is_none() {
            // The peer may not be registered or started yet: try again next tick.
            match peers.fetch(&settings.peer).await {
                Ok(Some(peer)) => {
                    client = Some(
                        TokiClient::builder(
                            http.clone(),
                            settings.id.clone(),
                            settings.key()?,
                            settings.peer.clone(),
                            peer.key,
                        )
                        .build(),
                    );
                }
                Ok(None) => {
                    if n % 20 == 1 {
                        eprintln!(
                            "{name}: {} has no toki key at the hub yet",
                            settings.peer.as_str()
                        );
                    }
                    continue;
                }
                Err(err) => {
                    eprintln!(
                        "{name}: cannot look {} up at the hub: {err}",
                        settings.peer.as_str()
                    );
                    continue;
                }
            }
        }
        let Some(caller) = &client else { continue };
        let (method, path, body) = next_call(n);
        let request = caller
            .http()
            .request(method.clone(), format!("{}{path}", settings.peer_url))
            .header("content-type", "application/json")
            .body(body);
        // Say how it goes on the first call and whenever that changes, not on every call: the
        // services share a terminal with the reader's next commands.
        let (status, outcome) = match caller.send(request).await {
            Ok(answer) => (
                answer.status.to_string(),
                format!("{method} {path} → {} {}", answer.status, answer.text()),
            ),
            Err(err) => (
                "failed".to_string(),
                format!("{method} {path} failed: {err}"),
            ),
        };
        if last_status.as_deref() != Some(status.as_str()) {
            eprintln!("{name}: {outcome} (said again only when this changes)");
            last_status = Some(status);
        }
    }
}
