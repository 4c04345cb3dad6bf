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

/// A public key that checks signatures of exactly one algorithm.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    pub kid: String,
    pub alg: &'static str,
    public: Vec<u8>,
}

impl VerifyingKey {
    /// Builds a verifier from a published JWK; the algorithm follows from the key type and must
    /// agree with the JWK's own `alg` when it has one.
    pub fn from_jwk(jwk: &PublicJwk) -> Result<VerifyingKey, JoseError> {
        let decode = |v: &Option<String>| {
            v.as_deref()
                .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
                .ok_or_else(|| JoseError::BadKey("missing or bad coordinate".into()))
        };
        let (alg, public) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => ("EdDSA", decode(&jwk.x)?),
            ("EC", Some("P-256")) => {
                let mut point = vec![4u8];
                point.extend(decode(&jwk.x)?);
                point.extend(decode(&jwk.y)?);
                ("ES256", point)
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
        Ok(VerifyingKey {
            kid: jwk.kid.clone().unwrap_or_default(),
            alg,
            public,
        })
    }

    /// Whether a JWS header's `alg` names this key's algorithm. An Ed25519 key answers to
    /// `EdDSA` and to `Ed25519` (RFC 9864, which deprecates the polymorphic `EdDSA`).
    pub fn accepts(&self, header_alg: &str) -> bool {
        accepts(self.alg, header_alg)
    }

    /// Verifies `signature` over `signing_input` with this key's algorithm.
    pub fn verify(&self, signing_input: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        let algorithm: &dyn signature::VerificationAlgorithm = match self.alg {
            "EdDSA" => &signature::ED25519,
            _ => &signature::ECDSA_P256_SHA256_FIXED,
        };
        UnparsedPublicKey::new(algorithm, &self.public)
            .verify(signing_input, signature)
            .map_err(|_| JoseError::BadSignature)
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
            key.verify(jws.signing_input.as_bytes(), &jws.signature),
            Ok(())
        );
        assert_eq!(jws.payload, b"Example of Ed25519 signing");
        assert_eq!(
            key.verify(b"tampered", &jws.signature),
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
            verifier.verify(jws.signing_input.as_bytes(), &jws.signature),
            Ok(())
        );
    }
}
