//! The hub's master key: 32 random bytes that seal secrets kept in the store (clients' signing
//! secrets) with AES-256-GCM, so a copy of the database alone reveals none of them.
//!
//! The key lives in a file — base64 on one line, mode 0600 (`openssl rand -base64 32`) — at
//! `master_key_file` or, by default, `master.key` in the data directory, where the hub makes one
//! on first start. The store records the key's id (a digest, never the key), so a hub or an
//! admin command given another key refuses to start instead of failing on each secret.

use std::path::{Path, PathBuf};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyway_store::Store;
use zeroize::Zeroizing;

use crate::{AdminError, Entropy};

/// The store setting holding the id of the key the store's secrets are sealed with.
pub(crate) const KEY_ID_SETTING: &str = "master_key_id";
/// Sealed values start with this (the format's version).
const SEALED_PREFIX: &str = "v1.";

pub struct MasterKey {
    key: crate::sealed_box::SealKey,
    id: String,
    path: PathBuf,
    /// Set when the store moved to another key (`keyway keys rotate-master` while this process
    /// ran): nothing more is sealed under this one.
    retired: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, {})", self.id, self.path.display())
    }
}

fn invalid(path: &Path, why: &str) -> AdminError {
    AdminError::MasterKey(format!("master key {}: {why}", path.display()))
}

impl MasterKey {
    /// Loads the key at `path`; when `create` and the file does not exist, makes a new one.
    pub fn load_or_create(
        path: &Path,
        create: bool,
        entropy: &dyn Entropy,
    ) -> Result<MasterKey, AdminError> {
        if create && !path.exists() {
            let mut raw = Zeroizing::new([0u8; 32]);
            entropy.fill(raw.as_mut());
            let line = Zeroizing::new(format!("{}\n", STANDARD.encode(raw.as_ref())));
            let dir = path.parent().unwrap_or(Path::new("."));
            // Written complete under a name of this process, then linked into place: a link
            // never replaces, so when two processes start at once both use the one that won.
            let mut mine = path.as_os_str().to_owned();
            mine.push(format!(".{}", std::process::id()));
            let mine = PathBuf::from(mine);
            keyway_kernel::write_private_file(dir, &mine, line.as_bytes())?;
            let linked = std::fs::hard_link(&mine, path);
            let _ = std::fs::remove_file(&mine);
            match linked {
                Ok(()) => tracing::info!(path = %path.display(), "made a new master key"),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(invalid(path, &format!("cannot create it: {err}"))),
            }
        }
        let text = Zeroizing::new(keyway_kernel::read_private_file(path)?);
        let line = std::str::from_utf8(&text).map_err(|_| {
            invalid(
                path,
                "not text: it must hold 32 bytes in base64 on one line",
            )
        })?;
        let raw = Zeroizing::new(STANDARD.decode(line.trim()).map_err(|_| {
            invalid(
                path,
                "not base64: it must hold 32 random bytes in base64 on one line \
                 (openssl rand -base64 32)",
            )
        })?);
        if raw.len() != 32 {
            return Err(invalid(
                path,
                &format!("{} bytes; it must hold exactly 32", raw.len()),
            ));
        }
        MasterKey::from_bytes(&raw, path)
    }

    fn from_bytes(raw: &[u8], path: &Path) -> Result<MasterKey, AdminError> {
        let key = crate::sealed_box::SealKey::from_bytes(raw)
            .ok_or_else(|| invalid(path, "not usable as an AES-256 key"))?;
        let id_key = hmac::Key::new(hmac::HMAC_SHA256, raw);
        let id = hmac::sign(&id_key, b"keyway master key id v1");
        Ok(MasterKey {
            key,
            id: URL_SAFE_NO_PAD.encode(&id.as_ref()[..12]),
            path: path.to_path_buf(),
            retired: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The AES-256-GCM key itself, for sealed backups (`backup.rs`).
    pub(crate) fn seal_key(&self) -> &crate::sealed_box::SealKey {
        &self.key
    }

    /// A short id of the key (a digest of it), safe to show and to store.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Records this key's id in a store that has none, or checks that it is the store's.
    pub async fn check_against(&self, store: &Store) -> Result<(), AdminError> {
        let recorded = store.setting_or_insert(KEY_ID_SETTING, &self.id).await?;
        if recorded != self.id {
            return Err(invalid(
                &self.path,
                &format!(
                    "this is key {}, but the store's secrets are sealed with key {recorded}: \
                     give the hub's own master key (--master-key-file, KEYWAY_MASTER_KEY_FILE \
                     or master_key_file in keyway.toml)",
                    self.id
                ),
            ));
        }
        Ok(())
    }

    /// Checks that the store is still sealed under this key; if it moved on (rotate-master ran
    /// while this process was running), this key seals nothing more and the error says so.
    pub async fn check_still_current(&self, store: &Store) -> Result<(), AdminError> {
        let recorded = store.setting(KEY_ID_SETTING).await?;
        if recorded.as_deref() == Some(self.id.as_str()) {
            return Ok(());
        }
        self.retired
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Err(self.retired_error(recorded.as_deref().unwrap_or("none")))
    }

    /// Whether the store has moved to another key (see [`MasterKey::check_still_current`]).
    pub fn is_retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn retired_error(&self, recorded: &str) -> AdminError {
        AdminError::MasterKey(format!(
            "the store's secrets are now sealed with master key {recorded}, not with this \
             process's key {} ({}): restart it with the new key file",
            self.id,
            self.path.display()
        ))
    }

    /// Seals `secret` for the place `context` names (e.g. one client's signing secret), so a
    /// sealed value copied to another place does not open there.
    pub fn seal(
        &self,
        context: &str,
        secret: &[u8],
        entropy: &dyn Entropy,
    ) -> Result<String, AdminError> {
        if self.retired.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(self.retired_error("another"));
        }
        let sealed = self
            .key
            .seal(context.as_bytes(), secret, entropy)
            .ok_or_else(|| AdminError::Crypto("sealing a secret failed".into()))?;
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// Opens a value [`MasterKey::seal`] made for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, AdminError> {
        sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .and_then(|raw| self.key.open(context.as_bytes(), &raw))
            .map(Zeroizing::new)
            .ok_or_else(|| {
                AdminError::Crypto(format!(
                    "the sealed {context} does not open with master key {} (it was sealed under \
                     another key, or changed in the store)",
                    self.id
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyway_kernel::SystemEntropy;

    #[test]
    fn made_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let entropy = SystemEntropy::default();
        let first = MasterKey::load_or_create(&path, true, &entropy).unwrap();
        let again = MasterKey::load_or_create(&path, true, &entropy).unwrap();
        assert_eq!(first.id(), again.id());
        let sealed = first.seal("client a", b"secret", &entropy).unwrap();
        assert_eq!(
            again.open("client a", &sealed).unwrap().as_slice(),
            b"secret"
        );
        // Bound to its place: the same value under another client's name does not open.
        assert!(again.open("client b", &sealed).is_err());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(STANDARD.decode(text.trim()).unwrap().len(), 32);
    }

    #[test]
    fn bad_key_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let entropy = SystemEntropy::default();
        let missing = dir.path().join("none.key");
        assert!(MasterKey::load_or_create(&missing, false, &entropy).is_err());
        let short = dir.path().join("short.key");
        keyway_kernel::write_private_file(dir.path(), &short, b"c2hvcnQ=\n").unwrap();
        let err = MasterKey::load_or_create(&short, false, &entropy).unwrap_err();
        assert!(err.to_string().contains("5 bytes"), "{err}");
        let junk = dir.path().join("junk.key");
        keyway_kernel::write_private_file(dir.path(), &junk, b"not base64!\n").unwrap();
        let err = MasterKey::load_or_create(&junk, false, &entropy).unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
    }

    #[test]
    fn tampered_sealed_values_do_not_open() {
        let key = MasterKey::from_bytes(&[7u8; 32], Path::new("k")).unwrap();
        let other = MasterKey::from_bytes(&[8u8; 32], Path::new("k")).unwrap();
        let entropy = SystemEntropy::default();
        let sealed = key.seal("c", b"secret", &entropy).unwrap();
        assert!(other.open("c", &sealed).is_err());
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
        raw[12] ^= 1; // the first byte after the nonce
        let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(raw));
        assert!(key.open("c", &tampered).is_err());
        assert!(key.open("c", "v2.xyz").is_err());
        assert_ne!(key.id(), other.id());
    }
}
