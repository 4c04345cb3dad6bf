//! The hub as a toki callee (docs/toki.md, "Calling the hub with toki"): registered services
//! call the data API and the linkage API with `oscartoki` instead of a bearer token. The hub
//! has its own Ed25519 toki key (`toki-hub.key` in the data directory, 0600), its service id
//! is its issuer URL, and its public key is published at `GET /toki/v1/hub`.

use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use keyway_auth::AuthService;
use keyway_toki::{HEADER_NAME, ServiceId, TokiKeyPair, TokiPublicKey};
use keyway_toki_http::{
    ActivitySink, CachedPeerKeys, HELLO_PATH, Peer, PeerLookup, PeerSource, TokiHttpError,
    TokiLayer, TokiService,
};
use serde_json::json;
use tower::{Layer, Service, ServiceExt};

use crate::activity::{self, ActivityMap};
use crate::toki_cluster::StoreSessions;
use crate::{AppState, HubError};

/// Where the hub publishes its toki service id and public key (no authentication: it is a
/// public key; callers should pin it, like an SSH host key).
pub const HUB_TOKI: &str = "/toki/v1/hub";
/// Where hubs before sealed secrets kept their toki private key (PKCS#8), in the data
/// directory: imported into the store at start.
pub const KEY_FILE: &str = "toki-hub.key";
/// Toki requests are buffered to be digested: a linkage batch signed with toki holds at most
/// this much (about 120,000 records); larger files go as several batches.
pub const TOKI_BODY_LIMIT: usize = 16 << 20;
/// Registrations read from the store are cached this long (a deleted client is refused on
/// its next call anyway: every call looks its client up).
const PEER_TTL: Duration = Duration::from_secs(10);
const UNKNOWN_PEER_TTL: Duration = Duration::from_secs(5);

/// The hub's toki identity and the layer that verifies calls to its APIs.
#[derive(Clone)]
pub struct HubToki {
    pub service: ServiceId,
    pub public_key: TokiPublicKey,
    layer: TokiLayer,
}

/// The hub's toki service id (its issuer) and key pair: the key is kept sealed in the store
/// (made on first use; a key file of an older hub in the data directory is sealed into the
/// store and removed).
pub async fn hub_identity(
    data_dir: &Path,
    auth: &AuthService,
) -> Result<(ServiceId, TokiKeyPair), HubError> {
    let service = ServiceId::new(&auth.config().issuer).map_err(HubError::Toki)?;
    let legacy: PathBuf = data_dir.join(KEY_FILE);
    if legacy.exists() {
        // An older hub's key is checked before it is sealed into the store.
        let der = keyway_kernel::read_private_file(&legacy)?;
        TokiKeyPair::from_pkcs8(&der).map_err(HubError::Toki)?;
    }
    let der = auth
        .hub_secret(keyway_auth::TOKI_KEY, Some(&legacy), || {
            let key = TokiKeyPair::generate(auth.entropy())
                .map_err(|e| keyway_auth::AdminError::Crypto(e.to_string()))?;
            key.to_pkcs8()
                .map(|der| der.to_vec())
                .map_err(|e| keyway_auth::AdminError::Crypto(e.to_string()))
        })
        .await?;
    let key = TokiKeyPair::from_pkcs8(&der).map_err(HubError::Toki)?;
    Ok((service, key))
}

impl HubToki {
    /// The layer over the hub's store, with its clock, reporting into its own activity map.
    pub async fn start(
        data_dir: &Path,
        auth: &Arc<AuthService>,
        map: &Arc<ActivityMap>,
    ) -> Result<HubToki, HubError> {
        let (service, key) = hub_identity(data_dir, auth).await?;
        let public_key = key.public_key();
        map.remember_names([(service.as_str().to_string(), "keyway hub".to_string())]);
        let peers =
            CachedPeerKeys::with_source(StorePeers(auth.clone()), PEER_TTL, UNKNOWN_PEER_TTL);
        let mut builder = TokiLayer::builder(service.clone(), key, peers.clone())
            .resolver(peers)
            .clock(auth.clock_source())
            .entropy(auth.entropy_source())
            .body_limit(TOKI_BODY_LIMIT)
            .activity(feed_activity_map(map.clone(), auth.clone()));
        // A SQLite hub is one process (its data directory is locked): nothing to share.
        if auth.store().backend() != keyway_store::Backend::Sqlite {
            builder = builder.shared_sessions(Arc::new(StoreSessions(auth.clone())));
        }
        let layer = builder.build();
        Ok(HubToki {
            service,
            public_key,
            layer,
        })
    }

    /// Wraps API routes: requests with an `oscartoki` header (and hellos) go through the toki
    /// layer, the rest reach the routes unchanged (bearer tokens).
    pub fn optional_layer(&self) -> TokiOrBearerLayer {
        TokiOrBearerLayer(self.layer.clone())
    }
}

/// Registrations straight from the hub's store.
struct StorePeers(Arc<AuthService>);

impl PeerSource for StorePeers {
    fn lookup<'a>(&'a self, service: &'a ServiceId) -> PeerLookup<'a> {
        Box::pin(async move {
            let peer = self
                .0
                .toki_peer(service.as_str())
                .await
                .map_err(|err| TokiHttpError::PeerLookup(err.to_string()))?;
            let Some(peer) = peer else {
                return Ok(None);
            };
            let key = TokiPublicKey::parse(&peer.toki_key)?;
            Ok(Some(Peer {
                key,
                scope: peer.scope,
            }))
        })
    }
}

/// The hub's name on the activity map (its service id is its issuer URL).
const HUB_NAME: &str = "keyway hub";

/// The hub verifies calls itself: its events go straight into its map, in batches, off the
/// call path (the sink's `try_send` never waits).
fn feed_activity_map(map: Arc<ActivityMap>, auth: Arc<AuthService>) -> ActivitySink {
    let (sink, mut events) = ActivitySink::channel(10_000);
    let drops = sink.drop_count();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(500);
        let mut reported_drops = 0;
        while events.recv_many(&mut batch, 500).await > 0 {
            let mut converted: Vec<activity::CallEvent> =
                batch.drain(..).map(activity::CallEvent::from).collect();
            if let Err(err) = activity::identify(&auth, &map, &mut converted).await {
                tracing::warn!(error = %err.description, "naming the hub's callers failed");
            }
            // The hub is no registered client: the map names it all the same.
            map.remember_names([(auth.config().issuer.clone(), HUB_NAME.to_string())]);
            for event in &converted {
                activity::record_metrics(event);
            }
            let dropped = drops.get();
            map.ingest(
                &converted,
                dropped.saturating_sub(reported_drops),
                auth.clock().now_ms(),
            );
            reported_drops = dropped;
        }
    });
    sink
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(HUB_TOKI, get(hub_key))
}

async fn hub_key(State(state): State<AppState>) -> Response {
    Json(json!({
        "service": state.toki.service.as_str(),
        "toki_key": state.toki.public_key.to_string(),
        "hello": HELLO_PATH,
    }))
    .into_response()
}

/// See [`HubToki::optional_layer`].
#[derive(Clone)]
pub struct TokiOrBearerLayer(TokiLayer);

impl<S: Clone> Layer<S> for TokiOrBearerLayer {
    type Service = TokiOrBearer<S>;

    fn layer(&self, inner: S) -> TokiOrBearer<S> {
        TokiOrBearer {
            toki: self.0.layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub struct TokiOrBearer<S> {
    plain: S,
    toki: TokiService<S>,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for TokiOrBearer<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call drives its own clone to readiness (axum's routes are always ready).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> BoxFuture {
        let is_toki =
            request.uri().path() == HELLO_PATH || request.headers().contains_key(HEADER_NAME);
        if is_toki {
            let toki = self.toki.clone();
            Box::pin(toki.oneshot(request))
        } else {
            let plain = self.plain.clone();
            Box::pin(plain.oneshot(request))
        }
    }
}
