//! Callers' toki keys, looked up where they are registered and cached: [`CachedPeerKeys`] over
//! any [`PeerSource`]. [`HubPeerKeys`] asks the hub's `GET /toki/v1/peers/{id}`; the hub itself
//! reads its own store through the same cache.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use keyway_toki::{PeerKeys, ServiceId, TokiPublicKey};

use crate::error::TokiHttpError;

/// A peer as the hub registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub key: TokiPublicKey,
    /// The client's registered scopes, space-separated.
    pub scope: String,
}

/// The future a [`PeerSource`] answers with: the registration, `None` when there is none.
pub type PeerLookup<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Peer>, TokiHttpError>> + Send + 'a>>;

/// Where registrations come from: the hub's HTTP endpoint for a service, the store for the hub.
pub trait PeerSource: Send + Sync + 'static {
    fn lookup<'a>(&'a self, service: &'a ServiceId) -> PeerLookup<'a>;
}

/// Asynchronously fills a [`PeerKeys`] table; the layer calls it on a hello before checking
/// the caller's key, so a service learns new peers from the hub as they first call.
pub trait PeerResolver: Send + Sync {
    fn resolve<'a>(
        &'a self,
        service: &'a ServiceId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

struct Cached {
    peer: Option<Peer>,
    /// Until then the entry is used without asking the source again.
    fresh_until: Instant,
}

struct PeerCache<S> {
    source: S,
    entries: RwLock<HashMap<ServiceId, Cached>>,
    ttl: Duration,
    negative_ttl: Duration,
    capacity: usize,
}

/// Registrations from a [`PeerSource`], cached: known peers for `ttl`, unknown ids for
/// `negative_ttl` (so garbage hellos cannot flood the source), at most 4096 entries. A failed
/// lookup keeps what was cached and is not retried for `negative_ttl` (a source outage costs
/// one lookup per id per `negative_ttl`, not one per call). A key removed at the source stops
/// opening sessions within `ttl`; sessions already open run to their expiry. Cloning shares
/// the cache.
pub struct CachedPeerKeys<S>(Arc<PeerCache<S>>);

impl<S> Clone for CachedPeerKeys<S> {
    fn clone(&self) -> Self {
        CachedPeerKeys(self.0.clone())
    }
}

impl<S: PeerSource> CachedPeerKeys<S> {
    pub fn with_source(source: S, ttl: Duration, negative_ttl: Duration) -> CachedPeerKeys<S> {
        CachedPeerKeys(Arc::new(PeerCache {
            source,
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

    /// Whether `service` is registered with `scope`: the simple rule for
    /// [`crate::TokiLayerBuilder::authorize`] (a callee names the scope its callers need).
    pub fn has_scope(&self, service: &ServiceId, scope: &str) -> bool {
        self.peer(service)
            .is_some_and(|peer| peer.scope.split(' ').any(|s| s == scope))
    }

    fn is_fresh(&self, service: &ServiceId) -> bool {
        let Ok(entries) = self.0.entries.read() else {
            return false;
        };
        entries
            .get(service)
            .is_some_and(|cached| Instant::now() < cached.fresh_until)
    }

    /// The peer's registration, from the cache when fresh, else from the source. A source that
    /// does not answer leaves the cached entry (if any) in place: an outage does not cut off
    /// peers.
    pub async fn fetch(&self, service: &ServiceId) -> Result<Option<Peer>, TokiHttpError> {
        if self.is_fresh(service) {
            return Ok(self.peer(service));
        }
        match self.0.source.lookup(service).await {
            Ok(peer) => {
                let ttl = if peer.is_some() {
                    self.0.ttl
                } else {
                    self.0.negative_ttl
                };
                self.store(service, peer.clone(), ttl);
                Ok(peer)
            }
            Err(error) => {
                let kept = self.peer(service);
                self.store(service, kept, self.0.negative_ttl);
                Err(error)
            }
        }
    }

    fn store(&self, service: &ServiceId, peer: Option<Peer>, ttl: Duration) {
        let Ok(mut entries) = self.0.entries.write() else {
            return;
        };
        if entries.len() >= self.0.capacity && !entries.contains_key(service) {
            // Unknown ids go first; known peers are few and stay.
            entries.retain(|_, cached| cached.peer.is_some());
        }
        if entries.len() < self.0.capacity || entries.contains_key(service) {
            entries.insert(
                service.clone(),
                Cached {
                    peer,
                    fresh_until: Instant::now() + ttl,
                },
            );
        }
    }
}

impl<S: PeerSource> PeerKeys for CachedPeerKeys<S> {
    fn toki_key(&self, service: &ServiceId) -> Option<TokiPublicKey> {
        self.peer(service).map(|peer| peer.key)
    }
}

impl<S: PeerSource> PeerResolver for CachedPeerKeys<S> {
    fn resolve<'a>(
        &'a self,
        service: &'a ServiceId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            if let Err(error) = self.fetch(service).await {
                tracing::warn!(peer = %service, %error, "toki peer lookup failed");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A source that is down: counts how often it is asked.
    struct Down(Arc<AtomicUsize>);

    impl PeerSource for Down {
        fn lookup<'a>(&'a self, _service: &'a ServiceId) -> PeerLookup<'a> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Err(TokiHttpError::PeerLookup("down".into())) })
        }
    }

    #[tokio::test]
    async fn a_failed_lookup_is_not_retried_until_the_negative_ttl_passes() {
        let asked = Arc::new(AtomicUsize::new(0));
        let peers = CachedPeerKeys::with_source(
            Down(asked.clone()),
            Duration::from_secs(300),
            Duration::from_secs(30),
        );
        let id = ServiceId::new("orders").unwrap();
        assert!(peers.fetch(&id).await.is_err());
        // Within the negative TTL: answered from the cache (nothing known), not asked again.
        assert_eq!(peers.fetch(&id).await.unwrap(), None);
        peers.resolve(&id).await;
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }
}
