//! The hub's signing keys: a `next` key is published before it signs, the `current` key signs,
//! `retired` keys stay published until every token they signed has expired.
//!
//! The store keeps each key's life cycle, public JWK and PKCS#8 private key sealed under the
//! master key (context `signing key KID`), so every node of a cluster and the CLI see the same
//! keys: the CLI can rotate while the hub runs, and every hub picks it up on its next reload.
//! Keys of hubs from before sealing were PKCS#8 files in `<data-dir>/keys/`: the first start
//! with a master key seals each into the store and removes its file.

use keyway_kernel::PrivateFileError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use keyway_store::{KeyState, SigningKeyRecord, Store};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{AdminError, Entropy, MasterKey};

/// The settings row of the process making a store's first signing keys.
const KEYS_CLAIM: &str = "signing_keys_claimed_by";
/// How long a process waits for another to make the first keys before taking over.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What seals and opens private keys: the master key, and entropy for the nonces.
#[derive(Clone, Copy)]
pub struct KeySealer<'a> {
    pub key: &'a MasterKey,
    pub entropy: &'a dyn Entropy,
}

/// The sealing context of a signing key: a sealed key copied to another row does not open.
pub(crate) fn signing_key_context(kid: &str) -> String {
    format!("signing key {kid}")
}

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
    /// Which reload made it: a reload that read the store earlier never replaces the result
    /// of one that read it later (the upkeep's and a rotation's reloads may overlap).
    generation: u64,
}

/// The hub's key ring. Reads are lock-free in practice (an `Arc` swap under a short lock).
pub struct KeyRing {
    dir: PathBuf,
    current: RwLock<Arc<KeySet>>,
    /// Reloads started so far (each one's generation).
    reloads: AtomicU64,
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
            reloads: AtomicU64::new(0),
            dir: data_dir.join("keys"),
            current: RwLock::new(Arc::new(KeySet {
                signer: None,
                signer_activated_at: 0,
                next_kid: None,
                verifiers: HashMap::new(),
                jwks: Arc::new(r#"{"keys":[]}"#.into()),
                generation: 0,
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

    /// Makes sure a current and a next key exist (first start). Nodes of a cluster starting
    /// together on an empty store must not each make a current key: one claims the making (a
    /// settings row, insert-if-absent), the others wait for its keys; a claimer that died
    /// before making them is taken over after [`CLAIM_WAIT`].
    pub async fn ensure(
        &self,
        store: &Store,
        alg: SigningAlg,
        now: i64,
        sealer: KeySealer<'_>,
    ) -> Result<(), AdminError> {
        let complete = |keys: &[SigningKeyRecord]| {
            [KeyState::Current, KeyState::Next]
                .iter()
                .all(|state| keys.iter().any(|k| k.state == *state))
        };
        if complete(&store.signing_keys().await?) {
            return Ok(());
        }
        let me = crate::random_token(sealer.entropy, 16);
        let claimed = store.setting_or_insert(KEYS_CLAIM, &me).await?;
        if claimed != me {
            let deadline = std::time::Instant::now() + CLAIM_WAIT;
            while std::time::Instant::now() < deadline {
                if complete(&store.signing_keys().await?) {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            if !store.replace_setting_if(KEYS_CLAIM, &claimed, &me).await? {
                return Err(AdminError::Conflict(
                    "another process is making the first signing keys; start again".into(),
                ));
            }
        }
        let keys = store.signing_keys().await?;
        for state in [KeyState::Current, KeyState::Next] {
            if !keys.iter().any(|k| k.state == state) {
                store
                    .insert_signing_key(&generate(alg, state, now, sealer)?)
                    .await?;
            }
        }
        Ok(())
    }

    /// The private key of `record`: opened from the store, or (a key from before sealing) read
    /// from its file, which is then sealed into the store when a sealer is given. The file is
    /// renamed `KID.p8.imported` (a commit is not yet durable against a power loss) and
    /// removed by a later reload that opens the sealed key. `None` when it is sealed and there
    /// is no master key to open it.
    async fn private_key(
        &self,
        store: &Store,
        record: &SigningKeyRecord,
        sealer: Option<KeySealer<'_>>,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, AdminError> {
        let path = self.key_path(&record.kid);
        let sealed = match &record.private_key {
            Some(sealed) => Some(sealed.clone()),
            // Another process sealing the same file at once removed it: read what it stored.
            None if !path.exists() => store
                .signing_key(&record.kid)
                .await?
                .and_then(|fresh| fresh.private_key),
            None => None,
        };
        if let Some(sealed) = sealed {
            let Some(sealer) = sealer else {
                return Ok(None);
            };
            let der = self.open_sealed(&record.kid, &sealed, sealer)?;
            let _ = std::fs::remove_file(imported(&path));
            return Ok(Some(der));
        }
        // A signing key others can read is refused, as OpenSSH refuses such keys.
        let der = Zeroizing::new(keyway_kernel::read_private_file(&path)?);
        if let Some(sealer) = sealer {
            let sealed =
                sealer
                    .key
                    .seal(&signing_key_context(&record.kid), &der, sealer.entropy)?;
            if store.set_signing_key_private(&record.kid, &sealed).await? {
                tracing::info!(kid = %record.kid, file = %path.display(), "signing key sealed into the store");
            }
            std::fs::rename(&path, imported(&path)).map_err(|source| {
                keyway_kernel::PrivateFileError::Io {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        Ok(Some(der))
    }

    fn open_sealed(
        &self,
        kid: &str,
        sealed: &str,
        sealer: KeySealer<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, AdminError> {
        sealer
            .key
            .open(&signing_key_context(kid), sealed)
            .map_err(|_| {
                AdminError::MasterKey(format!(
                    "signing key {kid} does not open with master key {}: the store was sealed \
                     under another key (give the hub's own master key)",
                    sealer.key.id()
                ))
            })
    }

    /// Re-reads the key life cycle from the store and the private key of the current key
    /// (without a master key, nothing signs: an admin command before the hub's first start).
    pub async fn reload(
        &self,
        store: &Store,
        now: i64,
        sealer: Option<KeySealer<'_>>,
    ) -> Result<(), AdminError> {
        let generation = self.reloads.fetch_add(1, Ordering::Relaxed) + 1;
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
                    if let Some(der) = self.private_key(store, record, sealer).await? {
                        signer = Some(Arc::new(
                            SigningKey::from_pkcs8(&record.alg, &record.kid, &der)
                                .map_err(crypto)?,
                        ));
                    }
                    signer_activated_at = record.activated_at.unwrap_or(record.created_at);
                }
                KeyState::Next => {
                    // The next key signs after the next rotation: one that does not open (or
                    // a loose file) is refused now, not when a rotation is already committed.
                    if let Some(der) = self.private_key(store, record, sealer).await? {
                        SigningKey::from_pkcs8(&record.alg, &record.kid, &der).map_err(crypto)?;
                    }
                    next_kid = Some(record.kid.clone());
                }
                KeyState::Retired => {
                    // A retired key signs nothing more: an older hub's file of it goes.
                    let path = self.key_path(&record.kid);
                    let _ = std::fs::remove_file(&path);
                    let _ = std::fs::remove_file(imported(&path));
                }
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
            generation,
        });
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.generation < generation {
            *guard = set;
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
        sealer: KeySealer<'_>,
    ) -> Result<String, AdminError> {
        self.ensure(store, alg, now, sealer).await?;
        let keys = store.signing_keys().await?;
        let current = keys.iter().find(|k| k.state == KeyState::Current);
        let next = keys
            .iter()
            .find(|k| k.state == KeyState::Next)
            .ok_or_else(|| AdminError::NotFound("next signing key".into()))?;
        // Checked before anything is committed: promoting a key that does not open would leave
        // the hub without a usable signer.
        let der = self
            .private_key(store, next, Some(sealer))
            .await?
            .ok_or_else(|| AdminError::NotFound("the next key's private half".into()))?;
        SigningKey::from_pkcs8(&next.alg, &next.kid, &der).map_err(crypto)?;
        let new_next = generate(alg, KeyState::Next, now, sealer)?;
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
            return Err(AdminError::Conflict(
                "signing keys changed during rotation (another process rotated); run it again"
                    .into(),
            ));
        }
        for kid in store.drop_expired_signing_keys(now).await? {
            let _ = std::fs::remove_file(self.key_path(&kid));
        }
        self.reload(store, now, Some(sealer)).await?;
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

    /// The kid that will sign after the next rotation (published already).
    pub fn next_kid(&self) -> Option<String> {
        self.snapshot().next_kid.clone()
    }
}

/// Generates a key pair and returns its store record, the private key sealed.
fn generate(
    alg: SigningAlg,
    state: KeyState,
    now: i64,
    sealer: KeySealer<'_>,
) -> Result<SigningKeyRecord, AdminError> {
    let rng = SystemRandom::new();
    let der = match alg {
        SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
        SigningAlg::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng),
    }
    .map_err(|e| AdminError::Crypto(e.to_string()))?;
    let provisional = SigningKey::from_pkcs8(alg.as_str(), "", der.as_ref()).map_err(crypto)?;
    let mut jwk = provisional.public_jwk();
    jwk.kid = None;
    let kid = jwk_thumbprint(&jwk).ok_or_else(|| AdminError::Crypto("thumbprint".into()))?;
    jwk.kid = Some(kid.clone());
    let sealed = sealer
        .key
        .seal(&signing_key_context(&kid), der.as_ref(), sealer.entropy)?;
    Ok(SigningKeyRecord {
        kid,
        alg: alg.as_str().into(),
        state,
        public_jwk: serde_json::to_string(&jwk).map_err(|e| AdminError::Crypto(e.to_string()))?,
        created_at: now,
        activated_at: (state == KeyState::Current).then_some(now),
        retired_at: None,
        expires_at: None,
        private_key: Some(sealed),
    })
}

/// Where an imported key file waits until its sealed copy has been read back.
pub(crate) fn imported(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".imported");
    PathBuf::from(name)
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
