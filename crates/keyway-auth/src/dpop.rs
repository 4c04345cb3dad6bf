//! DPoP (RFC 9449): proof-of-possession of a key for access tokens. A client signs a fresh
//! proof JWT per request with a key pair of its own (the public JWK travels in the proof's
//! header); tokens issued with a proof are bound to that key's thumbprint (`cnf.jkt`) and are
//! only honoured with a proof by the same key, so a stolen token alone is useless.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::jose::{PublicJwk, VerifyingKey, jwk_thumbprint, split_compact};
use crate::{AccessTokenClaims, AuthService, ErrorCode, OAuthError};

/// A proof may be this far from the hub's clock (RFC 9449 §11.1 leaves it to the server).
const IAT_WINDOW: i64 = 60;
/// Proofs whose `jti` the hub remembers at once (≈ 40 MB); beyond, new proofs are refused
/// rather than forgetting one that could still be replayed. Each is kept until its `iat` + 60 s,
/// so this carries more than 10,000 DPoP requests a second per hub process.
const MAX_REMEMBERED: usize = 1_000_000;
/// A proof longer than this is not read.
const MAX_PROOF_LEN: usize = 8 * 1024;

/// The key a proof was signed with: its RFC 7638 thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopKey {
    pub jkt: String,
}

/// `cnf` of a bound access token (RFC 9449 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// The `jti`s of proofs seen within the window, per process: 128 bits of SHA-256 over key
/// thumbprint and `jti` (about 40 bytes an entry), with the time each may be forgotten. Split
/// in shards so that concurrent requests and the sweep of one shard do not wait on each other.
#[derive(Debug)]
pub(crate) struct SeenProofs([Mutex<SeenInner>; SHARDS]);

const SHARDS: usize = 16;

impl Default for SeenProofs {
    fn default() -> SeenProofs {
        SeenProofs(std::array::from_fn(|_| Mutex::new(SeenInner::default())))
    }
}

#[derive(Debug, Default)]
pub(crate) struct SeenInner {
    seen: HashMap<u128, i64>,
    swept_at: i64,
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: String,
    alg: String,
    jwk: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ProofClaims {
    htm: String,
    htu: String,
    iat: i64,
    jti: String,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

fn refused(why: impl std::fmt::Display) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, format!("DPoP proof: {why}"))
}

/// `url` without its query and fragment (RFC 9449 §4.3: `htu` is compared without them).
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// `ath`: base64url(SHA-256(access token)).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// How an access token came to a resource (RFC 6750, RFC 9449 §7).
#[derive(Debug, Clone, Copy)]
pub enum Presentation<'a> {
    /// `Authorization: Bearer`.
    Bearer,
    /// `Authorization: DPoP`, with the request's `DPoP` header (if any) and what it must name.
    Dpop {
        proof: Option<&'a str>,
        method: &'a str,
        url: &'a str,
    },
}

/// A proof that passed every check, its `jti` not yet recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnrecordedProof {
    pub key: DpopKey,
    replay_id: String,
    keep_until: i64,
}

/// A proof that verified, before its `jti` is checked against the ones seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// The proof's `nonce` claim, checked by the caller against the ones it handed out.
    pub nonce: Option<String>,
}

impl AuthService {
    /// Checks a DPoP proof for a request `method url` (and, at a resource, the `access_token`
    /// it accompanies): `typ dpop+jwt`, a public key in the header that verifies the
    /// signature, `htm`/`htu` naming this request, `iat` within a minute, a `jti` not seen
    /// before, and `ath` when a token is presented. The key's thumbprint when all hold.
    pub async fn check_dpop_proof(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<DpopKey, OAuthError> {
        let unrecorded = self.check_dpop_proof_unrecorded(proof, method, url, access_token)?;
        self.remember_proof(&unrecorded).await?;
        Ok(unrecorded.key)
    }

    async fn remember_proof(&self, proof: &UnrecordedProof) -> Result<(), OAuthError> {
        let now = self.clock.now_secs();
        self.dpop_seen
            .remember(&proof.replay_id, now, proof.keep_until)?;
        self.claim_proof_in_cluster(proof).await
    }

    fn proof_claim(proof: &UnrecordedProof) -> (String, i64) {
        let claim = format!("d.{}", crate::entropy::sha256_hex(&proof.replay_id));
        // Kept a whole window longer than the proof can be fresh: nodes' clocks differ.
        let until_ms = (proof.keep_until + IAT_WINDOW).saturating_mul(1000);
        (claim, until_ms)
    }

    /// In a cluster, refuses a proof another node has recorded already (the token endpoint
    /// asks before the grant runs, so a replay spends nothing).
    pub async fn check_dpop_proof_in_cluster(
        &self,
        proof: &UnrecordedProof,
    ) -> Result<(), OAuthError> {
        if self.store.backend() == keyway_store::Backend::Sqlite {
            return Ok(());
        }
        let (claim, _) = Self::proof_claim(proof);
        if self.store.claimed(&claim, self.clock.now_ms()).await? {
            return Err(refused("jti was already used (replay)"));
        }
        Ok(())
    }

    /// In a cluster (several hubs on one PostgreSQL or MariaDB store), a proof is also claimed
    /// in the store, so that one replayed to another node is refused there too.
    async fn claim_proof_in_cluster(&self, proof: &UnrecordedProof) -> Result<(), OAuthError> {
        if self.store.backend() == keyway_store::Backend::Sqlite {
            return Ok(());
        }
        let (claim, until_ms) = Self::proof_claim(proof);
        if self.store.claim_once(&claim, until_ms).await? {
            Ok(())
        } else {
            Err(refused("jti was already used (replay)"))
        }
    }

    /// As [`AuthService::check_dpop_proof`], but the proof's `jti` is only looked up, not
    /// recorded: the token endpoint records it with [`AuthService::record_dpop_proof`] once the
    /// grant succeeded, so requests that fail (anyone can send them for a public client) do
    /// not fill the replay cache.
    pub fn check_dpop_proof_unrecorded(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<UnrecordedProof, OAuthError> {
        let now = self.clock.now_secs();
        let verified = verify_dpop_proof(proof, method, url, access_token, now)?;
        if self.config.require_dpop_nonce {
            let why = match verified.nonce.as_deref() {
                None => "a nonce is required: use the one in this response's DPoP-Nonce header",
                Some(nonce) if !self.dpop_nonces.is_fresh(nonce, now) => {
                    "the nonce is stale or not this hub's: use the one in this response's \
                     DPoP-Nonce header"
                }
                Some(_) => "",
            };
            if !why.is_empty() {
                return Err(OAuthError::new(ErrorCode::UseDpopNonce, why));
            }
        }
        let replay_id = format!("{}\0{}", verified.jkt, verified.jti);
        if self.dpop_seen.contains(&replay_id)? {
            return Err(refused("jti was already used (replay)"));
        }
        Ok(UnrecordedProof {
            key: DpopKey { jkt: verified.jkt },
            replay_id,
            keep_until: verified.iat + IAT_WINDOW,
        })
    }

    /// Records a proof checked with [`AuthService::check_dpop_proof_unrecorded`]: from now on
    /// it is a replay.
    /// In a cluster, a proof another node recorded first is refused here (the request's work
    /// is then not answered).
    pub async fn record_dpop_proof(&self, proof: &UnrecordedProof) -> Result<(), OAuthError> {
        let now = self.clock.now_secs();
        match self
            .dpop_seen
            .remember(&proof.replay_id, now, proof.keep_until)
        {
            // Two identical requests at once both passed the look-up; either way it is seen
            // here (in a cluster, only one of them is claimed).
            Err(err) if err.code == ErrorCode::InvalidDpopProof && !self.clustered() => {
                return Ok(());
            }
            other => other?,
        }
        self.claim_proof_in_cluster(proof).await
    }

    /// The nonce to send in `DPoP-Nonce` when nonces are required (RFC 9449 §8), else none.
    pub fn dpop_nonce(&self) -> Option<String> {
        self.config
            .require_dpop_nonce
            .then(|| self.dpop_nonces.current(self.clock.now_secs()))
    }

    /// RFC 9449 §7 at a resource: a token bound to a key is honoured only as `DPoP` with a
    /// proof by that key for this request (with `ath`); an unbound token only as `Bearer`.
    /// For resource servers written in Rust as for the hub's own APIs.
    pub async fn check_presentation(
        &self,
        claims: &AccessTokenClaims,
        token: &str,
        presentation: Presentation<'_>,
    ) -> Result<(), OAuthError> {
        let misused = |why: &str| OAuthError::new(ErrorCode::InvalidToken, why);
        match (&claims.cnf, presentation) {
            (None, Presentation::Bearer) => Ok(()),
            (None, Presentation::Dpop { .. }) => Err(misused(
                "this access token is not bound to a key: send it as Authorization: Bearer",
            )),
            (Some(_), Presentation::Bearer) => Err(misused(
                "this access token is bound to a DPoP key: send it as Authorization: DPoP, \
                 with a DPoP proof",
            )),
            (Some(cnf), Presentation::Dpop { proof, method, url }) => {
                let Some(proof) = proof else {
                    return Err(misused("a DPoP proof (the DPoP header) is required"));
                };
                // The key is compared before the proof is recorded: a proof by another key
                // spends nothing.
                let unrecorded =
                    self.check_dpop_proof_unrecorded(proof, method, url, Some(token))?;
                if unrecorded.key.jkt != cnf.jkt {
                    return Err(misused(
                        "the DPoP proof is signed by another key than the one the token is bound to",
                    ));
                }
                self.remember_proof(&unrecorded).await
            }
        }
    }
}

/// Everything of a DPoP proof's check but the replay cache: no state, so it can be measured
/// alone (`benches/dpop.rs`).
pub fn verify_dpop_proof(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: i64,
) -> Result<VerifiedProof, OAuthError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(refused("too long"));
    }
    let jws = split_compact(proof).map_err(|_| refused("not a compact JWS"))?;
    let header: ProofHeader = serde_json::from_slice(&jws.header)
        .map_err(|_| refused("the header lacks typ, alg or jwk"))?;
    if header.typ != "dpop+jwt" {
        return Err(refused("typ must be dpop+jwt"));
    }
    if header.crit.is_some() {
        return Err(refused(
            "critical header extensions (crit) are not understood",
        ));
    }
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|member| header.jwk.contains_key(*member))
    {
        return Err(refused("the jwk holds a private key"));
    }
    let jwk: PublicJwk = serde_json::from_value(serde_json::Value::Object(header.jwk))
        .map_err(|_| refused("the jwk is not a public key"))?;
    let key = VerifyingKey::from_jwk(&jwk).map_err(|e| refused(format!("unsupported key: {e}")))?;
    if !key.accepts(&header.alg) {
        return Err(refused(format!(
            "alg {:?} does not fit the key ({})",
            header.alg, key.alg
        )));
    }
    key.verify(&header.alg, jws.signing_input.as_bytes(), &jws.signature)
        .map_err(|_| refused("the signature does not verify with its jwk"))?;
    let claims: ProofClaims = serde_json::from_slice(&jws.payload).map_err(|_| {
        refused(
            "the claims need htm, htu and jti (strings) and iat (an integer); ath and nonce, \
                 when present, are strings",
        )
    })?;
    if claims.htm != method {
        return Err(refused(format!("htm must be {method}")));
    }
    if without_query(&claims.htu) != without_query(url) {
        return Err(refused(format!("htu must be {}", without_query(url))));
    }
    if (claims.iat - now).abs() > IAT_WINDOW {
        return Err(refused("iat is not within a minute of the hub's clock"));
    }
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(refused("jti must be 1–256 characters"));
    }
    if let Some(token) = access_token
        && claims.ath.as_deref() != Some(access_token_hash(token).as_str())
    {
        return Err(refused("ath must be the hash of the access token"));
    }
    let jkt = jwk_thumbprint(&jwk).ok_or_else(|| refused("no thumbprint for the jwk"))?;
    Ok(VerifiedProof {
        jkt,
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
    })
}

impl SeenProofs {
    fn key_of(id: &str) -> u128 {
        let digest = Sha256::digest(id.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        u128::from_le_bytes(key)
    }

    /// Whether a proof was seen (and not yet forgotten).
    fn contains(&self, id: &str) -> Result<bool, OAuthError> {
        let key = SeenProofs::key_of(id);
        let shard = &self.0[(key % SHARDS as u128) as usize];
        let inner = shard
            .lock()
            .map_err(|_| OAuthError::server_error("DPoP replay cache poisoned"))?;
        Ok(inner.seen.contains_key(&key))
    }

    /// Remembers a proof until `until`; a second sight is a replay. Expired entries of a
    /// shard are swept at most once a second (every ten when there is room), so a full cache
    /// does not make each request scan it.
    fn remember(&self, id: &str, now: i64, until: i64) -> Result<(), OAuthError> {
        let key = SeenProofs::key_of(id);
        let shard = &self.0[(key % SHARDS as u128) as usize];
        let mut inner = shard
            .lock()
            .map_err(|_| OAuthError::server_error("DPoP replay cache poisoned"))?;
        let limit = MAX_REMEMBERED / SHARDS;
        let full = inner.seen.len() >= limit;
        if (full && inner.swept_at != now) || now - inner.swept_at >= 10 {
            inner.seen.retain(|_, expires| *expires >= now);
            inner.swept_at = now;
        }
        if inner.seen.len() >= limit {
            return Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many DPoP proofs at once; try again",
            ));
        }
        if inner.seen.insert(key, until).is_some() {
            return Err(refused("jti was already used (replay)"));
        }
        Ok(())
    }
}
