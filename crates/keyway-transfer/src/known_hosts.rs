//! The client's pins of server keys (`known_hosts`): `HOST:PORT keyway-ed25519 BASE64`.
//! First contact is refused unless the caller accepts new keys or names the expected key; a
//! changed key is always refused.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{PublicKey, TransferError};

/// How the client decides whether a server key is the right one.
#[derive(Debug, Clone)]
pub enum ServerPin {
    /// Exactly this key.
    Key(PublicKey),
    /// Look the host up in a known_hosts file; `accept_new` records an unknown host's key.
    KnownHosts { path: PathBuf, accept_new: bool },
}

impl ServerPin {
    /// Checks `key` for `host`; may append to the known_hosts file (first contact, accept-new).
    pub fn check(&self, host: &str, key: &PublicKey) -> Result<(), TransferError> {
        match self {
            ServerPin::Key(expected) if expected == key => Ok(()),
            ServerPin::Key(expected) => Err(TransferError::ServerKeyMismatch {
                host: host.to_string(),
                expected: expected.fingerprint(),
                got: key.fingerprint(),
            }),
            ServerPin::KnownHosts { path, accept_new } => match lookup(path, host)? {
                Some(known) if known == *key => Ok(()),
                Some(known) => Err(TransferError::ServerKeyChanged {
                    host: host.to_string(),
                    expected: known.fingerprint(),
                    got: key.fingerprint(),
                }),
                None if *accept_new => append(path, host, key),
                None => Err(TransferError::UnknownServer {
                    host: host.to_string(),
                    got: key.fingerprint(),
                }),
            },
        }
    }
}

impl ServerPin {
    /// Whether `host` already has a line in the known_hosts file (to tell a person when
    /// `accept_new` adds one, as OpenSSH does).
    pub fn is_recorded(&self, host: &str) -> bool {
        match self {
            ServerPin::Key(_) => true,
            ServerPin::KnownHosts { path, .. } => matches!(lookup(path, host), Ok(Some(_))),
        }
    }
}

fn local_error(path: &Path) -> impl FnOnce(std::io::Error) -> TransferError + '_ {
    move |source| TransferError::LocalFile {
        path: path.display().to_string(),
        source,
    }
}

fn lookup(path: &Path, host: &str) -> Result<Option<PublicKey>, TransferError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(local_error(path)(e)),
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, key) = line.split_once(char::is_whitespace).ok_or_else(|| {
            TransferError::BadKey(format!("{} line {}: no key", path.display(), n + 1))
        })?;
        if name == host {
            return PublicKey::parse(key.trim()).map(Some);
        }
    }
    Ok(None)
}

fn append(path: &Path, host: &str, key: &PublicKey) -> Result<(), TransferError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(local_error(dir))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(local_error(path))?;
    writeln!(file, "{host} {key}").map_err(local_error(path))?;
    file.sync_all()?;
    tracing::warn!(%host, fingerprint = %key.fingerprint(), "new server key recorded in known_hosts");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    #[test]
    fn first_contact_pinning_and_changed_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let server = Identity::generate().unwrap().public_key();
        let other = Identity::generate().unwrap().public_key();
        let strict = ServerPin::KnownHosts {
            path: path.clone(),
            accept_new: false,
        };
        let lenient = ServerPin::KnownHosts {
            path: path.clone(),
            accept_new: true,
        };
        assert!(matches!(
            strict.check("h:1", &server),
            Err(TransferError::UnknownServer { .. })
        ));
        lenient.check("h:1", &server).unwrap();
        strict.check("h:1", &server).unwrap();
        assert!(matches!(
            lenient.check("h:1", &other),
            Err(TransferError::ServerKeyChanged { .. })
        ));
        assert!(ServerPin::Key(server).check("h:2", &server).is_ok());
        assert!(matches!(
            ServerPin::Key(server).check("h:2", &other),
            Err(TransferError::ServerKeyMismatch { .. })
        ));
    }
}
