//! Talking to the keyway hub as a registered service: a client-credentials access token kept
//! fresh ([`HubSession`]) and peers' toki keys fetched from `GET /toki/v1/peers/{id}` and
//! cached ([`HubPeerKeys`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use keyway_toki::{PeerKeys, ServiceId, TokiPublicKey};
use serde::Deserialize;

use crate::error::TokiHttpError;

/// Path of the hub's peer lookup; the client id follows.
pub const PEERS_PATH: &str = "/toki/v1/peers/";
/// Path of the hub's token endpoint.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// A service's OAuth client at the hub and the scopes it asks for (for example
/// `"toki:peers activity:report"`).
#[derive(Clone)]
pub struct HubCredentials {
    /// The hub's base URL, like `https://hub.example` (no trailing slash needed).
    pub hub_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scope: String,
}

impl fmt::Debug for HubCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret never reaches logs.
        f.debug_struct("HubCredentials")
            .field("hub_url", &self.hub_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

/// An access token from the hub's client-credentials grant, renewed 30 s before it expires.
pub struct HubSession {
    http: reqwest::Client,
    credentials: HubCredentials,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl HubSession {
    pub fn new(http: reqwest::Client, credentials: HubCredentials) -> HubSession {
        HubSession {
            http,
            credentials,
            token: tokio::sync::Mutex::new(None),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `path` on the hub.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.credentials.hub_url.trim_end_matches('/'))
    }

    /// A live access token (one token request at a time; others wait and share it).
    pub async fn bearer(&self) -> Result<String, TokiHttpError> {
        let mut slot = self.token.lock().await;
        if let Some((token, renew_at)) = slot.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let answer = self
            .http
            .post(self.url(TOKEN_PATH))
            .basic_auth(
                &self.credentials.client_id,
                Some(&self.credentials.client_secret),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", &self.credentials.scope),
            ])
            .send()
            .await?
            .error_for_status()?
            .json::<TokenAnswer>()
            .await?;
        let lifetime = answer.expires_in.unwrap_or(300).saturating_sub(30).max(1);
        let renew_at = Instant::now() + Duration::from_secs(lifetime);
        *slot = Some((answer.access_token.clone(), renew_at));
        Ok(answer.access_token)
    }

    /// Forgets the token (after a 401), so the next call asks for a new one.
    pub async fn forget_token(&self) {
        *self.token.lock().await = None;
    }
}

/// A peer as the hub registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub key: TokiPublicKey,
    /// The client's registered scopes, space-separated.
    pub scope: String,
}

#[derive(Deserialize)]
struct PeerAnswer {
    toki_key: String,
    #[serde(default)]
    scope: String,
}

struct Cached {
    peer: Option<Peer>,
    fetched: Instant,
}

/// Asynchronously fills a [`PeerKeys`] table; the layer calls it on a hello before checking
/// the caller's key, so a service learns new peers from the hub as they first call.
pub trait PeerResolver: Send + Sync {
    fn resolve<'a>(
        &'a self,
        service: &'a ServiceId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// Peers' toki keys from the hub, cached: known peers for `ttl` (default 5 min), unknown ids
/// for `negative_ttl` (default 30 s, so garbage hellos cannot flood the hub). A key removed at
/// the hub stops opening sessions within `ttl`; sessions already open run to their expiry.
/// Cloning shares the cache.
#[derive(Clone)]
pub struct HubPeerKeys(Arc<PeerCache>);

struct PeerCache {
    hub: Arc<HubSession>,
    entries: RwLock<HashMap<ServiceId, Cached>>,
    ttl: Duration,
    negative_ttl: Duration,
    capacity: usize,
}

impl HubPeerKeys {
    pub fn new(hub: Arc<HubSession>) -> HubPeerKeys {
        HubPeerKeys::with_ttl(hub, Duration::from_secs(300), Duration::from_secs(30))
    }

    pub fn with_ttl(hub: Arc<HubSession>, ttl: Duration, negative_ttl: Duration) -> HubPeerKeys {
        HubPeerKeys(Arc::new(PeerCache {
            hub,
            entries: RwLock::new(HashMap::new()),
            ttl,
            negative_ttl,
            capacity: 4096,
        }))
    }

    /// The cached registration of `service`, fresh or not.
    pub fn peer(&self, service: &ServiceId) -> Option<Peer> {
        let entries = self.0.entries.read().ok()?;
        entries.get(service).and_then(|c| c.peer.clone())
    }

    /// Whether the hub registered `service` with `scope`: the simple rule for
    /// [`crate::TokiLayerBuilder::authorize`] (a callee names the scope its callers need).
    pub fn has_scope(&self, service: &ServiceId, scope: &str) -> bool {
        self.peer(service)
            .is_some_and(|peer| peer.scope.split(' ').any(|s| s == scope))
    }

    fn is_fresh(&self, service: &ServiceId) -> bool {
        let Ok(entries) = self.0.entries.read() else {
            return false;
        };
        entries.get(service).is_some_and(|cached| {
            let ttl = if cached.peer.is_some() {
                self.0.ttl
            } else {
                self.0.negative_ttl
            };
            cached.fetched.elapsed() < ttl
        })
    }

    /// The peer's registration, from the cache when fresh, else from the hub. A hub that does
    /// not answer leaves the cached entry (if any) in place: an outage does not cut off peers.
    pub async fn fetch(&self, service: &ServiceId) -> Result<Option<Peer>, TokiHttpError> {
        if self.is_fresh(service) {
            return Ok(self.peer(service));
        }
        let peer = self.ask_hub(service).await?;
        if let Ok(mut entries) = self.0.entries.write() {
            if entries.len() >= self.0.capacity {
                // Unknown ids go first; known peers are few and stay.
                entries.retain(|_, cached| cached.peer.is_some());
            }
            if entries.len() < self.0.capacity {
                entries.insert(
                    service.clone(),
                    Cached {
                        peer: peer.clone(),
                        fetched: Instant::now(),
                    },
                );
            }
        }
        Ok(peer)
    }

    async fn ask_hub(&self, service: &ServiceId) -> Result<Option<Peer>, TokiHttpError> {
        let hub = &self.0.hub;
        let url = hub.url(&format!("{PEERS_PATH}{}", service.as_str()));
        let mut retried = false;
        loop {
            let token = hub.bearer().await?;
            let response = hub.http().get(&url).bearer_auth(token).send().await?;
            match response.status().as_u16() {
                404 => return Ok(None),
                401 if !retried => {
                    retried = true;
                    hub.forget_token().await;
                }
                _ => {
                    let answer = response.error_for_status()?.json::<PeerAnswer>().await?;
                    let key = TokiPublicKey::parse(&answer.toki_key)?;
                    return Ok(Some(Peer {
                        key,
                        scope: answer.scope,
                    }));
                }
            }
        }
    }
}

impl PeerKeys for HubPeerKeys {
    fn toki_key(&self, service: &ServiceId) -> Option<TokiPublicKey> {
        self.peer(service).map(|peer| peer.key)
    }
}

impl PeerResolver for HubPeerKeys {
    fn resolve<'a>(
        &'a self,
        service: &'a ServiceId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Err(error) = self.fetch(service).await {
                tracing::warn!(peer = %service, %error, "toki peer lookup at the hub failed");
            }
        })
    }
}
