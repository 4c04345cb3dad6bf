use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A public signing key as published in the JWKS. Only the members keyway uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl PublicJwk {
    pub fn ed25519(public: &[u8]) -> PublicJwk {
        PublicJwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(URL_SAFE_NO_PAD.encode(public)),
            y: None,
            n: None,
            e: None,
            kid: None,
            alg: None,
            use_: None,
        }
    }

    /// From an uncompressed SEC1 point (0x04 || x || y).
    pub fn p256(uncompressed: &[u8]) -> Option<PublicJwk> {
        if uncompressed.len() != 65 || uncompressed[0] != 4 {
            return None;
        }
        Some(PublicJwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(&uncompressed[1..33])),
            y: Some(URL_SAFE_NO_PAD.encode(&uncompressed[33..])),
            n: None,
            e: None,
            kid: None,
            alg: None,
            use_: None,
        })
    }
}

/// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
pub fn jwk_thumbprint(jwk: &PublicJwk) -> Option<String> {
    let json = match jwk.kty.as_str() {
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            jwk.crv.as_deref()?,
            jwk.x.as_deref()?
        ),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.crv.as_deref()?,
            jwk.x.as_deref()?,
            jwk.y.as_deref()?
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk.e.as_deref()?,
            jwk.n.as_deref()?
        ),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 Appendix A.3: the thumbprint of the Appendix A.2 public key.
    #[test]
    fn rfc8037_a3_thumbprint() {
        let jwk = PublicJwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into()),
            y: None,
            n: None,
            e: None,
            kid: None,
            alg: None,
            use_: None,
        };
        assert_eq!(
            jwk_thumbprint(&jwk).as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
    }
}
