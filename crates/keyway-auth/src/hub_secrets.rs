//! The hub's own secrets — the CSRF key (from which the request, sign-in and DPoP-nonce seals
//! derive), the record-linkage key and the hub's toki private key — kept in the store's
//! `settings`, sealed under the master key, so every node of a cluster has the same ones and a
//! copy of the database alone reveals none. Stores from before sealing kept the first two in
//! the clear and the toki key in a file: each is sealed into the store on the first start that
//! has the master key (and the file removed).
//!
//! Also `keyway keys rotate-master`: every sealed value of the store opened with the old key
//! and sealed with the new one, written in one transaction.

use std::path::Path;

use keyway_store::{SealedPlace, SealedValue, Store};
use zeroize::Zeroizing;

use crate::keys::imported;
use crate::{AdminError, AuthService, Entropy, MasterKey, random_token};

/// The CSRF key's setting.
pub const CSRF_KEY: &str = "csrf_key";
/// The record-linkage key's setting.
pub const LINK_KEY: &str = "link_key";
/// The hub's toki private key (PKCS#8)'s setting.
pub const TOKI_KEY: &str = "toki_hub_key";
/// Every setting that holds a sealed secret.
const SEALED_SETTINGS: [&str; 3] = [CSRF_KEY, LINK_KEY, TOKI_KEY];
/// Sealed values start so (see `MasterKey::seal`); a random token never contains a dot.
const SEALED_PREFIX: &str = "v1.";

fn context(name: &str) -> String {
    format!("hub secret {name}")
}

/// The secret stored under `name`, opened; made with `fresh` (or taken from `legacy_file`, which
/// is then removed) when the store has none. Two nodes starting at once agree on one.
pub(crate) async fn open_or_create(
    store: &Store,
    key: &MasterKey,
    entropy: &dyn Entropy,
    name: &str,
    legacy_file: Option<&Path>,
    fresh: impl FnOnce() -> Result<Vec<u8>, AdminError>,
) -> Result<Zeroizing<Vec<u8>>, AdminError> {
    let context = context(name);
    let stored = store.setting(name).await?;
    if let Some(stored) = &stored
        && stored.starts_with(SEALED_PREFIX)
    {
        if let Some(path) = legacy_file {
            // Imported at an earlier start, now read back from the store.
            let _ = std::fs::remove_file(imported(path));
            if path.exists() {
                tracing::warn!(file = %path.display(), "{name}: the store holds another key than this file (another node's, sealed first); the file is not used");
            }
        }
        return key.open(&context, stored).map_err(|_| {
            AdminError::MasterKey(format!(
                "the hub's {name} does not open with master key {}: give the hub's own master \
                 key (master_key_file / KEYWAY_MASTER_KEY_FILE)",
                key.id()
            ))
        });
    }
    if let Some(plain) = stored {
        // Kept in the clear by an older hub: the same secret, sealed in place.
        let sealed = key.seal(&context, plain.as_bytes(), entropy)?;
        store.set_setting(name, &sealed).await?;
        return Ok(Zeroizing::new(plain.into_bytes()));
    }
    let from_file = match legacy_file {
        Some(path) if path.exists() => {
            Some(Zeroizing::new(keyway_kernel::read_private_file(path)?))
        }
        _ => None,
    };
    let secret = match &from_file {
        Some(bytes) => bytes.clone(),
        None => Zeroizing::new(fresh()?),
    };
    let sealed = key.seal(&context, &secret, entropy)?;
    let kept = store.setting_or_insert(name, &sealed).await?;
    if kept != sealed {
        // Another node stored its secret first: that one is the cluster's.
        return key.open(&context, &kept);
    }
    if let (Some(path), Some(_)) = (legacy_file, &from_file) {
        // Renamed, not removed, until a later start reads the sealed copy back (a commit is not
        // yet durable against a power loss).
        tracing::info!(file = %path.display(), "{name} sealed into the store");
        std::fs::rename(path, imported(path)).map_err(|source| {
            keyway_kernel::PrivateFileError::Io {
                path: path.to_path_buf(),
                source,
            }
        })?;
    }
    Ok(secret)
}

/// A fresh random secret as the hub has always made them (a token's text, used as key bytes).
pub(crate) fn fresh_token(entropy: &dyn Entropy) -> Vec<u8> {
    random_token(entropy, 32).into_bytes()
}

impl AuthService {
    /// Seals short-lived state the nodes of a cluster share (toki sessions) under the master
    /// key, for the place `context` names.
    pub fn seal_shared(&self, context: &str, secret: &[u8]) -> Result<String, AdminError> {
        self.master_key()?
            .seal(context, secret, self.entropy.as_ref())
    }

    /// Opens what [`AuthService::seal_shared`] sealed for `context`.
    pub fn open_shared(
        &self,
        context: &str,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, AdminError> {
        self.master_key()?.open(context, sealed)
    }

    /// The hub secret `name` (see the module docs): opened from the store, or made now.
    /// Without the master key (an admin command before the hub's first start) it cannot be.
    pub async fn hub_secret(
        &self,
        name: &str,
        legacy_file: Option<&Path>,
        fresh: impl FnOnce() -> Result<Vec<u8>, AdminError>,
    ) -> Result<Zeroizing<Vec<u8>>, AdminError> {
        open_or_create(
            &self.store,
            self.master_key()?,
            self.entropy.as_ref(),
            name,
            legacy_file,
            fresh,
        )
        .await
    }

    /// Seals every secret in the store under the master key in `new_key_file` instead of the
    /// current one, in one transaction. The hub's nodes must be stopped: a node still running
    /// with the old key would seal new secrets under it. Returns the new key's id and how many
    /// values were sealed again.
    pub async fn rotate_master_key(
        &self,
        new_key_file: &Path,
    ) -> Result<(String, usize), AdminError> {
        let old = self.master_key()?;
        if !new_key_file.is_file() {
            return Err(AdminError::Invalid(format!(
                "--new {}: no such file, or not a regular file (make one: openssl rand -base64 \
                 32 > new.key; chmod 600 new.key)",
                new_key_file.display()
            )));
        }
        // A serving node renews the upkeep lease every second (and gives it up when it stops):
        // one that holds it would go on sealing under the old key, and fail its readiness.
        if let Some((holder, until)) = self
            .store
            .lease_holder(crate::service::UPKEEP_LEASE)
            .await?
            && until >= self.clock.now_ms()
        {
            return Err(AdminError::Invalid(format!(
                "hub node {holder} is serving this store (it renewed the upkeep lease within \
                 the last 10 s): stop every node first, then rotate the master key and start \
                 them with the new key file"
            )));
        }
        let new = MasterKey::load_or_create(new_key_file, false, self.entropy.as_ref())?;
        if new.id() == old.id() {
            return Err(AdminError::Invalid(format!(
                "{} is the current master key ({}): give a new one (openssl rand -base64 32)",
                new_key_file.display(),
                old.id()
            )));
        }
        let entropy = self.entropy.as_ref();
        let reseal = |value: &SealedValue| -> Result<String, AdminError> {
            let context = match &value.place {
                SealedPlace::SigningKey(kid) => crate::keys::signing_key_context(kid),
                SealedPlace::ClientSecret(id) => crate::service::signing_secret_context(id),
                SealedPlace::Totp(user) => crate::second_factor::totp_context(user),
                SealedPlace::Setting(name) if !value.sealed.starts_with(SEALED_PREFIX) => {
                    // Still in the clear (never opened by a hub with a master key): seal it.
                    return new.seal(&context(name), value.sealed.as_bytes(), entropy);
                }
                SealedPlace::Setting(name) => context(name),
            };
            let plain = old.open(&context, &value.sealed).map_err(|_| {
                AdminError::MasterKey(format!(
                    "{context} does not open with the current master key {}; nothing was changed",
                    old.id()
                ))
            })?;
            new.seal(&context, &plain, entropy)
        };
        let count = self
            .store
            .reseal_all(
                &SEALED_SETTINGS,
                crate::master_key::KEY_ID_SETTING,
                old.id(),
                new.id(),
                reseal,
            )
            .await?
            .ok_or_else(|| {
                AdminError::Conflict(
                    "the store changed while its secrets were sealed again (a hub node still \
                     running, or another rotate-master): nothing was changed; stop every node \
                     and run it again"
                        .into(),
                )
            })?;
        self.audit_change(
            "keys.rotate-master",
            new.id(),
            Some(format!("from {}", old.id())),
        )
        .await;
        Ok((new.id().to_string(), count))
    }
}
