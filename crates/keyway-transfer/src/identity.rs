//! Ed25519 identities: a private key file (0600) and a one-line public key, OpenSSH-style.
//!
//! Public key line: `keyway-ed25519 <base64 of the 32-byte key> [comment]`.
//! Private key file: PEM-armoured PKCS#8 v1 (RFC 5208, `-----BEGIN PRIVATE KEY-----`), as
//! `openssl genpkey -algorithm ED25519` writes it. PKCS#8 v2 (RFC 5958, with the public key
//! embedded; what aws-lc-rs generates and keyway wrote before) is still read, but never written:
//! `openssl pkey` 3.0 and Python `cryptography` refuse it.

use std::fmt;
use std::path::Path;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::TransferError;

pub(crate) const KEY_TYPE: &str = "keyway-ed25519";

/// An Ed25519 public key: who a peer is.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses `keyway-ed25519 BASE64 [comment]` (the comment is ignored).
    pub fn parse(line: &str) -> Result<PublicKey, TransferError> {
        let mut parts = line.split_whitespace();
        let bad = |why: &str| TransferError::BadKey(format!("{why}: {line:?}"));
        match parts.next() {
            Some(KEY_TYPE) => {}
            Some(other) => return Err(bad(&format!("unknown key type {other}"))),
            None => return Err(bad("empty key")),
        }
        let encoded = parts.next().ok_or_else(|| bad("missing key data"))?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| bad("key data is not base64"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        Ok(PublicKey(key))
    }

    /// `SHA256:<base64>` of the key, as OpenSSH prints fingerprints.
    pub fn fingerprint(&self) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.0);
        format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest.as_ref())
        )
    }

    /// The DER SubjectPublicKeyInfo (RFC 8410) that TLS raw public keys carry.
    pub fn to_spki(&self) -> Vec<u8> {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.0);
        der
    }

    /// The key inside an Ed25519 SubjectPublicKeyInfo, if that is what `der` is.
    pub fn from_spki(der: &[u8]) -> Option<PublicKey> {
        let key = der.strip_prefix(&SPKI_PREFIX[..])?;
        key.try_into().ok().map(PublicKey)
    }
}

/// SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (32 bytes) } — RFC 8410 §4.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_TYPE} {}", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// A private Ed25519 key with its public half.
pub struct Identity {
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.public.fingerprint())
    }
}

impl Identity {
    pub fn generate() -> Result<Identity, TransferError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|e| TransferError::BadKey(e.to_string()))?;
        Identity::from_pkcs8(doc.as_ref())
    }

    /// Takes a PKCS#8 v1 or v2 Ed25519 key (a v2 key's embedded public key must match its
    /// private key); kept as v1, so that what [`Identity::save`] writes is v1 whatever was read.
    pub fn from_pkcs8(der: &[u8]) -> Result<Identity, TransferError> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|e| TransferError::BadKey(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| TransferError::BadKey("public key length".into()))?;
        let v1 = pair
            .to_pkcs8v1()
            .map_err(|e| TransferError::BadKey(format!("cannot encode the key as PKCS#8: {e}")))?;
        Ok(Identity {
            pkcs8: Zeroizing::new(v1.as_ref().to_vec()),
            public: PublicKey(public),
        })
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Reads a private key file; refuses one that others can read (as OpenSSH does).
    pub fn load(path: &Path) -> Result<Identity, TransferError> {
        // A public key line given where the private key belongs (`--identity key.pub`) gets
        // its own answer; the permission check would otherwise say "chmod 600" about it.
        if let Ok(head) = std::fs::read(path)
            && head.starts_with(format!("{KEY_TYPE} ").as_bytes())
        {
            let private = path.with_extension("");
            return Err(TransferError::BadKey(format!(
                "{} is a public key line ({KEY_TYPE} …), not a private key: give the private \
                 half, e.g. {}",
                path.display(),
                private.display()
            )));
        }
        let bytes = Zeroizing::new(keyway_kernel::read_private_file(path).map_err(|e| {
            // The file error names the file and the fix already.
            TransferError::BadKey(format!("identity: {e}"))
        })?);
        let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let der =
            Zeroizing::new(STANDARD.decode(body.trim()).map_err(|_| {
                TransferError::BadKey(format!("{} is not a PEM key", path.display()))
            })?);
        Identity::from_pkcs8(&der).map_err(|err| match err {
            TransferError::BadKey(why) => {
                TransferError::BadKey(format!("{}: {why}", path.display()))
            }
            other => other,
        })
    }

    /// Writes the private key (0600, temporary name, fsync, rename); never overwrites.
    pub fn save(&self, path: &Path) -> Result<(), TransferError> {
        if path.exists() {
            return Err(TransferError::BadKey(format!(
                "{} already exists; not overwriting a key",
                path.display()
            )));
        }
        let encoded = Zeroizing::new(STANDARD.encode(&*self.pkcs8));
        let mut pem = Zeroizing::new(String::from("-----BEGIN PRIVATE KEY-----\n"));
        for chunk in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        keyway_kernel::write_private_file(dir, path, pem.as_bytes())
            .map_err(|e| TransferError::BadKey(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        let identity = Identity::generate().unwrap();
        identity.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let loaded = Identity::load(&path).unwrap();
        assert_eq!(loaded.public_key(), identity.public_key());
        assert!(identity.save(&path).is_err(), "never overwrites");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(Identity::load(&path).is_err(), "refuses a readable key");
        }
    }

    /// PKCS#8 v1 (RFC 5208): `SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING }`, the
    /// form `openssl pkey` 3.0 and Python `cryptography` read; v2 (RFC 5958) adds the public key.
    #[test]
    fn a_public_key_given_as_the_identity_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.pub");
        std::fs::write(&path, format!("{OLD_V2_PUBLIC}\n")).unwrap();
        let err = Identity::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("is a public key line") && err.contains("id"),
            "{err}"
        );
        assert!(!err.contains("chmod"), "{err}");
    }

    #[test]
    fn saved_keys_are_pkcs8_v1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        let identity = Identity::generate().unwrap();
        identity.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body).unwrap();
        let mut v1 = hex_bytes("302e020100300506032b657004220420");
        assert_eq!(der.len(), v1.len() + 32, "v1 has no public key: {der:02x?}");
        v1.extend_from_slice(&der[v1.len()..]);
        assert_eq!(der, v1);
        assert_eq!(
            Identity::load(&path).unwrap().public_key(),
            identity.public_key()
        );
    }

    /// A key written by keyway before it switched to v1 (PKCS#8 v2 with the public key).
    const OLD_V2_KEY: &str = "-----BEGIN PRIVATE KEY-----
MFECAQEwBQYDK2VwBCIEIDLuloSZwqgLi+CD4D+1NCxu//oeF19oDa0DVXThkOId
gSEAu+NuC3bvpTvcXVYZCtHAANn/C5eh39x6J4Gp83bbpio=
-----END PRIVATE KEY-----
";
    const OLD_V2_PUBLIC: &str = "keyway-ed25519 u+NuC3bvpTvcXVYZCtHAANn/C5eh39x6J4Gp83bbpio= old";

    #[test]
    fn old_pkcs8_v2_keys_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old");
        std::fs::write(&path, OLD_V2_KEY).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let identity = Identity::load(&path).unwrap();
        assert_eq!(
            identity.public_key(),
            PublicKey::parse(OLD_V2_PUBLIC).unwrap()
        );
        // Saved again, it is the same key.
        let again = dir.path().join("again");
        identity.save(&again).unwrap();
        assert_eq!(
            Identity::load(&again).unwrap().public_key(),
            identity.public_key()
        );
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn public_key_lines_and_spki() {
        let key = Identity::generate().unwrap().public_key();
        let line = format!("{key} alice@host");
        assert_eq!(PublicKey::parse(&line).unwrap(), key);
        assert_eq!(PublicKey::from_spki(&key.to_spki()), Some(key));
        assert!(PublicKey::parse("ssh-rsa AAAA").is_err());
        assert!(PublicKey::parse("keyway-ed25519 AAAA").is_err());
        assert!(key.fingerprint().starts_with("SHA256:"));
    }
}
