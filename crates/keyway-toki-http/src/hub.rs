//! Talking to the keyway hub as a registered service: a client-credentials access token kept
//! fresh ([`HubSession`]) and peers' toki keys fetched from `GET /toki/v1/peers/{id}` and
//! cached ([`HubPeerKeys`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyway_toki::{ServiceId, TokiPublicKey};
use serde::Deserialize;

use crate::error::TokiHttpError;
use crate::peers::{CachedPeerKeys, Peer, PeerLookup, PeerSource};

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

#[derive(Deserialize)]
struct PeerAnswer {
    toki_key: String,
    #[serde(default)]
    scope: String,
}

/// [`PeerSource`] of a service: the hub's `GET /toki/v1/peers/{id}` with its access token.
pub struct HubPeerSource(Arc<HubSession>);

impl PeerSource for HubPeerSource {
    fn lookup<'a>(&'a self, service: &'a ServiceId) -> PeerLookup<'a> {
        Box::pin(ask_hub(&self.0, service))
    }
}

/// Peers' toki keys from the hub, cached (known peers 5 min, unknown ids 30 s).
pub type HubPeerKeys = CachedPeerKeys<HubPeerSource>;

impl CachedPeerKeys<HubPeerSource> {
    pub fn new(hub: Arc<HubSession>) -> HubPeerKeys {
        HubPeerKeys::with_ttl(hub, Duration::from_secs(300), Duration::from_secs(30))
    }

    pub fn with_ttl(hub: Arc<HubSession>, ttl: Duration, negative_ttl: Duration) -> HubPeerKeys {
        CachedPeerKeys::with_source(HubPeerSource(hub), ttl, negative_ttl)
    }
}

async fn ask_hub(hub: &HubSession, service: &ServiceId) -> Result<Option<Peer>, TokiHttpError> {
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
