use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use thiserror::Error;

use super::PublicJwk;

/// Why a compact JWS was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum JoseError {
    #[error("not a compact JWS (three base64url segments)")]
    Malformed,
    #[error("header is not valid JSON")]
    BadHeader,
    #[error("algorithm {0:?} does not match the key's algorithm")]
    AlgorithmMismatch(String),
    #[error("unknown key id")]
    UnknownKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("key material rejected: {0}")]
    BadKey(String),
}

/// A private signing key. Its algorithm is fixed when it is made.
pub enum SigningKey {
    Ed25519 {
        kid: String,
        pair: Ed25519KeyPair,
    },
    Es256 {
        kid: String,
        pair: EcdsaKeyPair,
        rng: SystemRandom,
    },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.alg(), self.kid())
    }
}

impl SigningKey {
    /// Loads a PKCS#8 document for the named JWS algorithm (`EdDSA` or `ES256`).
    pub fn from_pkcs8(alg: &str, kid: &str, der: &[u8]) -> Result<SigningKey, JoseError> {
        let kid = kid.to_string();
        match alg {
            "EdDSA" => Ed25519KeyPair::from_pkcs8(der)
                .map(|pair| SigningKey::Ed25519 { kid, pair })
                .map_err(|e| JoseError::BadKey(e.to_string())),
            "ES256" => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map(|pair| SigningKey::Es256 {
                    kid,
                    pair,
                    rng: SystemRandom::new(),
                })
                .map_err(|e| JoseError::BadKey(e.to_string())),
            other => Err(JoseError::AlgorithmMismatch(other.to_string())),
        }
    }

    pub fn kid(&self) -> &str {
        match self {
            SigningKey::Ed25519 { kid, .. } | SigningKey::Es256 { kid, .. } => kid,
        }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            SigningKey::Ed25519 { .. } => "EdDSA",
            SigningKey::Es256 { .. } => "ES256",
        }
    }

    /// The public half as a JWK with `kid`, `alg` and `use` filled in.
    pub fn public_jwk(&self) -> PublicJwk {
        let mut jwk = match self {
            SigningKey::Ed25519 { pair, .. } => PublicJwk::ed25519(pair.public_key().as_ref()),
            SigningKey::Es256 { pair, .. } => match PublicJwk::p256(pair.public_key().as_ref()) {
                Some(jwk) => jwk,
                None => PublicJwk::ed25519(&[]),
            },
        };
        jwk.kid = Some(self.kid().to_string());
        jwk.alg = Some(self.alg().to_string());
        jwk.use_ = Some("sig".into());
        jwk
    }

    /// Signs the JWS signing input (`b64(header).b64(payload)`).
    pub fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError> {
        match self {
            SigningKey::Ed25519 { pair, .. } => Ok(pair.sign(signing_input).as_ref().to_vec()),
            SigningKey::Es256 { pair, rng, .. } => pair
                .sign(rng, signing_input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JoseError::BadKey("ECDSA signing failed".into())),
        }
    }
}

fn accepts(key_alg: &str, named: &str) -> bool {
    named == key_alg || (key_alg == "EdDSA" && named == "Ed25519")
}

/// Every JWS algorithm keyway verifies with a client's or a proof's public key.
pub const VERIFIED_ALGS: [&str; 5] = ["EdDSA", "Ed25519", "ES256", "PS256", "RS256"];

/// The RSA algorithms keyway verifies. Both are asymmetric over the same key, so an RSA key
/// without a declared `alg` may answer to either without opening an algorithm-confusion hole.
const RSA_ALGS: [&str; 2] = ["RS256", "PS256"];

#[derive(Debug, Clone)]
enum PublicMaterial {
    /// Ed25519 public key or uncompressed P-256 point.
    Raw(Vec<u8>),
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

/// A public key that checks signatures of the algorithm it was published for.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    pub kid: String,
    /// The key's algorithm; for an RSA key published without `alg`, `RS256` (it also answers
    /// to `PS256`).
    pub alg: &'static str,
    material: PublicMaterial,
    /// An RSA key published without `alg`.
    rsa_either: bool,
}

impl VerifyingKey {
    /// Builds a verifier from a published JWK; the algorithm follows from the key type and must
    /// agree with the JWK's own `alg` when it has one. RSA moduli shorter than 2048 bits are
    /// refused when a signature is checked.
    pub fn from_jwk(jwk: &PublicJwk) -> Result<VerifyingKey, JoseError> {
        let decode = |v: &Option<String>| {
            v.as_deref()
                .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
                .filter(|bytes| !bytes.is_empty())
                .ok_or_else(|| JoseError::BadKey("missing or bad coordinate".into()))
        };
        let (alg, material) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => ("EdDSA", PublicMaterial::Raw(decode(&jwk.x)?)),
            ("EC", Some("P-256")) => {
                let mut point = vec![4u8];
                point.extend(decode(&jwk.x)?);
                point.extend(decode(&jwk.y)?);
                ("ES256", PublicMaterial::Raw(point))
            }
            ("RSA", _) => {
                let n = decode(&jwk.n)?;
                if n.len() < 256 {
                    return Err(JoseError::BadKey(format!(
                        "RSA modulus of {} bits; at least 2048 are required",
                        n.len() * 8
                    )));
                }
                let alg = match jwk.alg.as_deref() {
                    Some("PS256") => "PS256",
                    _ => "RS256",
                };
                let e = decode(&jwk.e)?;
                (alg, PublicMaterial::Rsa { n, e })
            }
            (kty, crv) => {
                return Err(JoseError::BadKey(format!(
                    "unsupported key type {kty}/{}",
                    crv.unwrap_or("-")
                )));
            }
        };
        if let Some(declared) = &jwk.alg
            && !accepts(alg, declared)
        {
            return Err(JoseError::AlgorithmMismatch(declared.clone()));
        }
        let rsa_either = matches!(material, PublicMaterial::Rsa { .. }) && jwk.alg.is_none();
        Ok(VerifyingKey {
            kid: jwk.kid.clone().unwrap_or_default(),
            alg,
            material,
            rsa_either,
        })
    }

    /// Whether a JWS header's `alg` names this key's algorithm. An Ed25519 key answers to
    /// `EdDSA` and to `Ed25519` (RFC 9864, which deprecates the polymorphic `EdDSA`).
    pub fn accepts(&self, header_alg: &str) -> bool {
        accepts(self.alg, header_alg) || (self.rsa_either && RSA_ALGS.contains(&header_alg))
    }

    /// Verifies `signature` over `signing_input` for a JWS whose header names `header_alg`,
    /// which must be one this key accepts.
    pub fn verify(
        &self,
        header_alg: &str,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JoseError> {
        if !self.accepts(header_alg) {
            return Err(JoseError::AlgorithmMismatch(header_alg.to_string()));
        }
        match &self.material {
            PublicMaterial::Raw(public) => {
                let algorithm: &dyn signature::VerificationAlgorithm = match self.alg {
                    "EdDSA" => &signature::ED25519,
                    _ => &signature::ECDSA_P256_SHA256_FIXED,
                };
                UnparsedPublicKey::new(algorithm, public)
                    .verify(signing_input, signature)
                    .map_err(|_| JoseError::BadSignature)
            }
            PublicMaterial::Rsa { n, e } => {
                let algorithm = if header_alg == "PS256" {
                    &signature::RSA_PSS_2048_8192_SHA256
                } else {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                };
                signature::RsaPublicKeyComponents { n, e }
                    .verify(algorithm, signing_input, signature)
                    .map_err(|_| JoseError::BadSignature)
            }
        }
    }
}

/// Builds a compact JWS from a serialised header and payload.
pub fn sign_compact(key: &SigningKey, header: &[u8], payload: &[u8]) -> Result<String, JoseError> {
    let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 100);
    URL_SAFE_NO_PAD.encode_string(header, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut out);
    Ok(out)
}

/// The decoded parts of a compact JWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactJws<'a> {
    /// `b64(header).b64(payload)`, what the signature covers.
    pub signing_input: &'a str,
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS (RFC 7515 §7.1).
pub fn split_compact(token: &str) -> Result<CompactJws<'_>, JoseError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed);
    };
    Ok(CompactJws {
        signing_input: &token[..h.len() + 1 + p.len()],
        header: decode_segment(h)?,
        payload: decode_segment(p)?,
        signature: decode_segment(s)?,
    })
}

pub fn decode_segment(segment: &str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JoseError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RFC8037_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    fn rfc8037_key() -> Option<SigningKey> {
        let seed = URL_SAFE_NO_PAD.decode(RFC8037_D).ok()?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).ok()?;
        Some(SigningKey::Ed25519 {
            kid: "rfc8037".into(),
            pair,
        })
    }

    /// RFC 8037 Appendix A.4: Ed25519 is deterministic, so our signer must reproduce the JWS.
    #[test]
    fn rfc8037_a4_signature() {
        let key = rfc8037_key();
        assert!(key.is_some());
        if let Some(key) = key {
            assert_eq!(key.public_jwk().x.as_deref(), Some(RFC8037_X));
            let jws = sign_compact(&key, br#"{"alg":"EdDSA"}"#, b"Example of Ed25519 signing");
            assert_eq!(jws.as_deref(), Ok(RFC8037_JWS));
        }
    }

    /// RFC 8037 Appendix A.5: the same JWS verifies with the public key alone.
    #[test]
    fn rfc8037_a5_verification() {
        let jwk = PublicJwk::ed25519(&URL_SAFE_NO_PAD.decode(RFC8037_X).unwrap());
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        let jws = split_compact(RFC8037_JWS).unwrap();
        assert_eq!(
            key.verify("EdDSA", jws.signing_input.as_bytes(), &jws.signature),
            Ok(())
        );
        assert_eq!(jws.payload, b"Example of Ed25519 signing");
        assert_eq!(
            key.verify("EdDSA", b"tampered", &jws.signature),
            Err(JoseError::BadSignature)
        );
    }

    #[test]
    fn jwk_alg_must_agree_with_key_type() {
        let mut jwk = PublicJwk::ed25519(&[7u8; 32]);
        jwk.alg = Some("HS256".into());
        assert!(matches!(
            VerifyingKey::from_jwk(&jwk),
            Err(JoseError::AlgorithmMismatch(_))
        ));
    }

    #[test]
    fn es256_round_trip() {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = SigningKey::from_pkcs8("ES256", "k1", doc.as_ref()).unwrap();
        let token = sign_compact(&key, br#"{"alg":"ES256"}"#, b"hello").unwrap();
        let verifier = VerifyingKey::from_jwk(&key.public_jwk()).unwrap();
        let jws = split_compact(&token).unwrap();
        assert_eq!(
            verifier.verify("ES256", jws.signing_input.as_bytes(), &jws.signature),
            Ok(())
        );
    }
}

#[cfg(test)]
mod rsa_tests {
    use super::*;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair};

    /// Reads `n` and `e` out of a DER RSAPublicKey (SEQUENCE { INTEGER n, INTEGER e }).
    fn components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
        fn item(bytes: &[u8]) -> (&[u8], &[u8]) {
            let (len, start) = match bytes[1] {
                short if short < 0x80 => (short as usize, 2),
                long => {
                    let count = (long & 0x7f) as usize;
                    let len = bytes[2..2 + count]
                        .iter()
                        .fold(0usize, |acc, b| acc << 8 | *b as usize);
                    (len, 2 + count)
                }
            };
            (&bytes[start..start + len], &bytes[start + len..])
        }
        let (sequence, _) = item(der);
        let (n, rest) = item(sequence);
        let (e, _) = item(rest);
        let strip = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect();
        (strip(n), strip(e))
    }

    fn rsa_jwk(pair: &RsaKeyPair, alg: Option<&str>) -> PublicJwk {
        let (n, e) = components(pair.public_key().as_ref());
        PublicJwk {
            kty: "RSA".into(),
            crv: None,
            x: None,
            y: None,
            n: Some(URL_SAFE_NO_PAD.encode(n)),
            e: Some(URL_SAFE_NO_PAD.encode(e)),
            kid: Some("r1".into()),
            alg: alg.map(str::to_string),
            use_: None,
        }
    }

    fn sign(pair: &RsaKeyPair, padding: &'static dyn RsaEncoding, input: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(padding, &SystemRandom::new(), input, &mut signature)
            .unwrap();
        signature
    }

    #[test]
    fn rs256_and_ps256_verify_with_a_key_published_without_alg() {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let key = VerifyingKey::from_jwk(&rsa_jwk(&pair, None)).unwrap();
        let rs = sign(&pair, &RSA_PKCS1_SHA256, b"input");
        let ps = sign(&pair, &RSA_PSS_SHA256, b"input");
        assert_eq!(key.verify("RS256", b"input", &rs), Ok(()));
        assert_eq!(key.verify("PS256", b"input", &ps), Ok(()));
        assert_eq!(
            key.verify("RS256", b"other", &rs),
            Err(JoseError::BadSignature)
        );
        // The padding is the one the header names, never guessed.
        assert_eq!(
            key.verify("PS256", b"input", &rs),
            Err(JoseError::BadSignature)
        );
        for alg in ["HS256", "none", "ES256", "EdDSA"] {
            assert_eq!(
                key.verify(alg, b"input", &rs),
                Err(JoseError::AlgorithmMismatch(alg.into()))
            );
        }
    }

    #[test]
    fn an_rsa_key_published_for_ps256_refuses_rs256() {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let key = VerifyingKey::from_jwk(&rsa_jwk(&pair, Some("PS256"))).unwrap();
        let rs = sign(&pair, &RSA_PKCS1_SHA256, b"input");
        assert_eq!(
            key.verify("RS256", b"input", &rs),
            Err(JoseError::AlgorithmMismatch("RS256".into()))
        );
    }

    #[test]
    fn short_rsa_moduli_and_missing_members_are_refused() {
        let mut jwk = rsa_jwk(&RsaKeyPair::generate(KeySize::Rsa2048).unwrap(), None);
        jwk.n = Some(URL_SAFE_NO_PAD.encode([0xC5u8; 128]));
        assert!(
            matches!(VerifyingKey::from_jwk(&jwk), Err(JoseError::BadKey(m)) if m.contains("1024 bits"))
        );
        jwk.n = None;
        assert!(matches!(
            VerifyingKey::from_jwk(&jwk),
            Err(JoseError::BadKey(_))
        ));
    }

    /// RFC 7638 §3.1: the thumbprint of the example RSA key.
    #[test]
    fn rfc7638_rsa_thumbprint() {
        let jwk = PublicJwk {
            kty: "RSA".into(),
            crv: None,
            x: None,
            y: None,
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
            kid: None,
            alg: None,
            use_: None,
        };
        assert_eq!(
            super::super::jwk_thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }
}
