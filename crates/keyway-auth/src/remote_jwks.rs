//! JWK Sets published by clients at a `jwks_uri` (RFC 7591 §2), fetched through a transport the
//! hub provides and cached: 5 minutes normally, refetched early (at most every 30 s) when an
//! assertion names a `kid` the cached set lacks — which is what a client's key rotation looks
//! like from here.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::clients::parse_jwks;
use crate::jose::VerifyingKey;
use crate::{AuthService, Client, OAuthError};

const FRESH_MS: i64 = 5 * 60 * 1000;
const REFETCH_GAP_MS: i64 = 30 * 1000;

/// Fetches a document by URL (the hub implements it over HTTPS).
pub trait JwksSource: Send + Sync + 'static {
    fn fetch<'a>(
        &'a self,
        uri: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;
}

struct Fetched {
    at_ms: i64,
    keys: Arc<Vec<VerifyingKey>>,
}

#[derive(Default)]
pub(crate) struct RemoteJwksCache {
    entries: Mutex<HashMap<String, Fetched>>,
}

impl RemoteJwksCache {
    fn get(&self, uri: &str) -> Option<(i64, Arc<Vec<VerifyingKey>>)> {
        let entries = self.entries.lock().ok()?;
        entries.get(uri).map(|f| (f.at_ms, f.keys.clone()))
    }

    fn put(&self, uri: &str, at_ms: i64, keys: Vec<VerifyingKey>) -> Arc<Vec<VerifyingKey>> {
        let keys = Arc::new(keys);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(
                uri.to_string(),
                Fetched {
                    at_ms,
                    keys: keys.clone(),
                },
            );
        }
        keys
    }
}

impl AuthService {
    /// The keys a `private_key_jwt` client authenticates with: registered ones, or those at
    /// its `jwks_uri` (fetched when stale or when `kid` is unknown).
    pub(crate) async fn client_keys(
        &self,
        client: &Client,
        kid: Option<&str>,
    ) -> Result<Arc<Vec<VerifyingKey>>, OAuthError> {
        let Some(uri) = client.jwks_uri.as_deref() else {
            return Ok(Arc::new(client.jwks.clone()));
        };
        let now = self.clock.now_ms();
        let cached = self.remote_jwks.get(uri);
        if let Some((at, keys)) = &cached {
            let knows_kid = kid.is_none_or(|kid| keys.iter().any(|k| k.kid == kid));
            let age = now - at;
            if (age < FRESH_MS && knows_kid) || age < REFETCH_GAP_MS {
                return Ok(keys.clone());
            }
        }
        let Some(source) = &self.jwks_source else {
            return Err(OAuthError::invalid_client(
                "this hub cannot fetch the client's jwks_uri",
            ));
        };
        match source
            .fetch(uri)
            .await
            .and_then(|text| parse_jwks(&text).map_err(|e| e.to_string()))
        {
            Ok(keys) => Ok(self.remote_jwks.put(uri, now, keys)),
            Err(err) => {
                tracing::warn!(client_id = %client.client_id, %uri, error = %err, "client JWKS fetch failed");
                // A stale set still beats none while the client's server is down.
                match cached {
                    Some((_, keys)) => Ok(keys),
                    None => Err(OAuthError::invalid_client(
                        "the client's jwks_uri could not be fetched",
                    )),
                }
            }
        }
    }
}
