//! The server's `authorized_keys`: which client keys may connect, and with what rights.
//!
//! ```text
//! # comment
//! keyway-ed25519 AAAAC3… alice@site-a
//! root="/srv/drop/partner-b",read-only keyway-ed25519 AAAAC3… partner-b
//! ```
//! Options (comma-separated, before the key): `root="DIR"` confines file paths of that key to
//! DIR (default: the server's `--root`), `read-only` allows pulls (`get`) but no pushes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::{PublicKey, TransferError};

/// What one authorised key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRights {
    pub comment: String,
    pub root: Option<PathBuf>,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AuthorizedKeys {
    keys: HashMap<PublicKey, KeyRights>,
}

impl AuthorizedKeys {
    pub fn load(path: &Path) -> Result<AuthorizedKeys, TransferError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TransferError::BadKey(format!("cannot read {}: {e}", path.display())))?;
        AuthorizedKeys::parse(&text)
    }

    /// Parses the file; any bad line is an error naming its number (a typo must not silently
    /// lock someone out or, worse, in).
    pub fn parse(text: &str) -> Result<AuthorizedKeys, TransferError> {
        let mut keys = HashMap::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: String| {
                TransferError::BadKey(format!("authorized_keys line {}: {why}", n + 1))
            };
            let (options, key_part) = match line.find(crate::identity::KEY_TYPE) {
                Some(0) => ("", line),
                Some(i) => (line[..i].trim(), &line[i..]),
                None => return Err(bad("no keyway-ed25519 key".into())),
            };
            let key = PublicKey::parse(key_part).map_err(|e| bad(e.to_string()))?;
            let comment = key_part
                .split_whitespace()
                .skip(2)
                .collect::<Vec<_>>()
                .join(" ");
            let mut rights = KeyRights {
                comment,
                root: None,
                read_only: false,
            };
            for option in split_options(options) {
                match option.split_once('=') {
                    None if option == "read-only" => rights.read_only = true,
                    Some(("root", value)) => {
                        let value = value.trim_matches('"');
                        if !value.starts_with('/') {
                            return Err(bad(format!(
                                "root must be an absolute path, got {value:?}"
                            )));
                        }
                        rights.root = Some(PathBuf::from(value));
                    }
                    _ => return Err(bad(format!("unknown option {option:?}"))),
                }
            }
            keys.insert(key, rights);
        }
        Ok(AuthorizedKeys { keys })
    }

    /// Adds (or replaces) one key, e.g. a key registered for an OAuth client at the hub.
    pub fn insert(&mut self, key: PublicKey, rights: KeyRights) {
        self.keys.insert(key, rights);
    }

    pub fn rights(&self, key: &PublicKey) -> Option<&KeyRights> {
        self.keys.get(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Splits `a,b="x,y",c` on commas outside quotes.
fn split_options(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for ch in text.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                current.push(ch);
            }
            ',' if !quoted => out.push(std::mem::take(&mut current)),
            _ => current.push(ch),
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out.into_iter()
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    #[test]
    fn parses_keys_options_and_comments() {
        let a = Identity::generate().unwrap().public_key();
        let b = Identity::generate().unwrap().public_key();
        let text = format!("# team\n{a} alice@a\n\nroot=\"/srv/b,x\",read-only {b} partner b\n");
        let keys = AuthorizedKeys::parse(&text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.rights(&a).unwrap().comment, "alice@a");
        let rights = keys.rights(&b).unwrap();
        assert!(rights.read_only);
        assert_eq!(rights.root.as_deref(), Some(Path::new("/srv/b,x")));
    }

    #[test]
    fn bad_lines_name_their_number() {
        let a = Identity::generate().unwrap().public_key();
        let err = AuthorizedKeys::parse(&format!("{a}\nfrobnicate {a}\n")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(AuthorizedKeys::parse("ssh-ed25519 AAAA x").is_err());
        assert!(AuthorizedKeys::parse(&format!("root=relative {a}")).is_err());
    }
}
