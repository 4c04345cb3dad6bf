//! The hub's signing keys: a `next` key is published before it signs, the `current` key signs,
//! `retired` keys stay published until every token they signed has expired.
//!
//! Private keys are PKCS#8 files (mode 0600) in `<data-dir>/keys/`; the store keeps the public
//! JWK and the life cycle, so the CLI can rotate while the hub runs and the hub picks it up on
//! its next reload.

use keyway_kernel::PrivateFileError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use keyway_store::{KeyState, SigningKeyRecord, Store};
use serde::Serialize;

use crate::AdminError;
use crate::jose::{JoseError, PublicJwk, SigningKey, VerifyingKey, jwk_thumbprint};

/// The JWS algorithm new keys are made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlg {
    #[default]
    EdDsa,
    Es256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Es256 => "ES256",
        }
    }

    pub fn parse(text: &str) -> Option<SigningAlg> {
        match text {
            "EdDSA" | "eddsa" | "Ed25519" | "ed25519" => Some(SigningAlg::EdDsa),
            "ES256" | "es256" => Some(SigningAlg::Es256),
            _ => None,
        }
    }
}

/// One key as `keyway keys list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeySummary {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// What the hub signs and verifies with right now.
struct KeySet {
    signer: Option<Arc<SigningKey>>,
    signer_activated_at: i64,
    next_kid: Option<String>,
    verifiers: HashMap<String, VerifyingKey>,
    jwks: Arc<String>,
}

/// The hub's key ring. Reads are lock-free in practice (an `Arc` swap under a short lock).
pub struct KeyRing {
    dir: PathBuf,
    current: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({})", self.dir.display())
    }
}

impl KeyRing {
    /// A ring over `<data_dir>/keys`; call [`KeyRing::ensure`] then [`KeyRing::reload`].
    pub fn new(data_dir: &Path) -> KeyRing {
        KeyRing {
            dir: data_dir.join("keys"),
            current: RwLock::new(Arc::new(KeySet {
                signer: None,
                signer_activated_at: 0,
                next_kid: None,
                verifiers: HashMap::new(),
                jwks: Arc::new(r#"{"keys":[]}"#.into()),
            })),
        }
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The key that signs new tokens.
    pub fn signer(&self) -> Option<Arc<SigningKey>> {
        self.snapshot().signer.clone()
    }

    /// The published key with this `kid`, if any.
    pub fn verifier(&self, kid: &str) -> Option<VerifyingKey> {
        self.snapshot().verifiers.get(kid).cloned()
    }

    /// The JWKS document (RFC 7517 §5), pre-serialised.
    pub fn jwks_json(&self) -> Arc<String> {
        self.snapshot().jwks.clone()
    }

    /// Makes sure a current and a next key exist (first start).
    pub async fn ensure(&self, store: &Store, alg: SigningAlg, now: i64) -> Result<(), AdminError> {
        let keys = store.signing_keys().await?;
        let has = |state| keys.iter().any(|k| k.state == state);
        if !has(KeyState::Current) {
            let record = self.generate(alg, KeyState::Current, now)?;
            store.insert_signing_key(&record).await?;
        }
        if !has(KeyState::Next) {
            let record = self.generate(alg, KeyState::Next, now)?;
            store.insert_signing_key(&record).await?;
        }
        Ok(())
    }

    /// Re-reads the key life cycle from the store and the private key of the current key.
    pub async fn reload(&self, store: &Store, now: i64) -> Result<(), AdminError> {
        let records = store.signing_keys().await?;
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        let mut signer = None;
        let mut signer_activated_at = 0;
        let mut next_kid = None;
        for record in &records {
            if record.state == KeyState::Retired && record.expires_at.is_some_and(|e| e < now) {
                continue;
            }
            let jwk: PublicJwk = serde_json::from_str(&record.public_jwk)
                .map_err(|e| AdminError::Crypto(format!("stored JWK {}: {e}", record.kid)))?;
            let verifier = VerifyingKey::from_jwk(&jwk).map_err(crypto)?;
            verifiers.insert(record.kid.clone(), verifier);
            published.push(jwk);
            match record.state {
                KeyState::Current => {
                    // A signing key others can read is refused, as OpenSSH refuses such keys.
                    let der = keyway_kernel::read_private_file(&self.key_path(&record.kid))?;
                    signer = Some(Arc::new(
                        SigningKey::from_pkcs8(&record.alg, &record.kid, &der).map_err(crypto)?,
                    ));
                    signer_activated_at = record.activated_at.unwrap_or(record.created_at);
                }
                KeyState::Next => {
                    // The next key signs after the next rotation: a loose one is refused now,
                    // not when a rotation has already been committed.
                    keyway_kernel::read_private_file(&self.key_path(&record.kid))?;
                    next_kid = Some(record.kid.clone());
                }
                KeyState::Retired => {}
            }
        }
        let jwks = serde_json::to_string(&serde_json::json!({ "keys": published }))
            .map_err(|e| AdminError::Crypto(e.to_string()))?;
        let set = Arc::new(KeySet {
            signer,
            signer_activated_at,
            next_kid,
            verifiers,
            jwks: Arc::new(jwks),
        });
        match self.current.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(())
    }

    /// Whether the signing key is older than `interval` seconds.
    pub fn rotation_due(&self, now: i64, interval: i64) -> bool {
        let set = self.snapshot();
        set.signer.is_some() && set.signer_activated_at + interval <= now
    }

    /// Promotes the published next key to signing, retires the current one (kept published
    /// until `now + keep_retired`), and publishes a fresh next key. Returns the new signing kid.
    pub async fn rotate(
        &self,
        store: &Store,
        alg: SigningAlg,
        now: i64,
        keep_retired: i64,
    ) -> Result<String, AdminError> {
        self.ensure(store, alg, now).await?;
        let keys = store.signing_keys().await?;
        let current = keys.iter().find(|k| k.state == KeyState::Current);
        let next = keys
            .iter()
            .find(|k| k.state == KeyState::Next)
            .ok_or_else(|| AdminError::NotFound("next signing key".into()))?;
        // Checked before anything is committed: promoting a key others can read would leave
        // the hub without a usable signer.
        let der = keyway_kernel::read_private_file(&self.key_path(&next.kid))?;
        SigningKey::from_pkcs8(&next.alg, &next.kid, &der).map_err(crypto)?;
        let new_next = self.generate(alg, KeyState::Next, now)?;
        let rotated = store
            .rotate_signing_keys(
                current.map(|k| k.kid.as_str()),
                &next.kid,
                &new_next,
                now,
                now + keep_retired,
            )
            .await?;
        if !rotated {
            let _ = std::fs::remove_file(self.key_path(&new_next.kid));
            return Err(AdminError::Conflict(
                "signing keys changed during rotation (another process rotated); run it again"
                    .into(),
            ));
        }
        for kid in store.drop_expired_signing_keys(now).await? {
            let _ = std::fs::remove_file(self.key_path(&kid));
        }
        self.reload(store, now).await?;
        Ok(next.kid.clone())
    }

    /// The life cycle of every stored key.
    pub async fn list(store: &Store) -> Result<Vec<KeySummary>, AdminError> {
        Ok(store
            .signing_keys()
            .await?
            .into_iter()
            .map(|k| KeySummary {
                kid: k.kid,
                alg: k.alg,
                state: k.state.as_str().into(),
                created_at: k.created_at,
                activated_at: k.activated_at,
                retired_at: k.retired_at,
                expires_at: k.expires_at,
            })
            .collect())
    }

    fn key_path(&self, kid: &str) -> PathBuf {
        self.dir.join(format!("{kid}.p8"))
    }

    /// Generates a key pair, writes the private key file, and returns its store record.
    fn generate(
        &self,
        alg: SigningAlg,
        state: KeyState,
        now: i64,
    ) -> Result<SigningKeyRecord, AdminError> {
        let rng = SystemRandom::new();
        let der = match alg {
            SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
            SigningAlg::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
        }
        .map_err(|e| AdminError::Crypto(e.to_string()))?;
        let provisional = SigningKey::from_pkcs8(alg.as_str(), "", der.as_ref()).map_err(crypto)?;
        let mut jwk = provisional.public_jwk();
        jwk.kid = None;
        let kid = jwk_thumbprint(&jwk).ok_or_else(|| AdminError::Crypto("thumbprint".into()))?;
        jwk.kid = Some(kid.clone());
        write_private_file(&self.dir, &self.key_path(&kid), der.as_ref())?;
        Ok(SigningKeyRecord {
            kid,
            alg: alg.as_str().into(),
            state,
            public_jwk: serde_json::to_string(&jwk)
                .map_err(|e| AdminError::Crypto(e.to_string()))?,
            created_at: now,
            activated_at: (state == KeyState::Current).then_some(now),
            retired_at: None,
            expires_at: None,
        })
    }

    /// The kid that will sign after the next rotation (published already).
    pub fn next_kid(&self) -> Option<String> {
        self.snapshot().next_kid.clone()
    }
}

fn crypto(err: JoseError) -> AdminError {
    AdminError::Crypto(err.to_string())
}

/// Creates the hub's data directory readable by its owner only: it holds the database (with
/// secret digests) and the private signing keys.
pub fn create_data_dir(dir: &Path) -> Result<(), PrivateFileError> {
    keyway_kernel::create_private_dir(dir)
}

/// Writes a secret file atomically, 0600 (see [`keyway_kernel::write_private_file`]).
pub fn write_private_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), PrivateFileError> {
    keyway_kernel::write_private_file(dir, path, bytes)
}
