//! A WebAuthn authenticator in software, written from the specification (W3C WebAuthn Level 3
//! §6.1 authenticator data, §6.5 attestation "none", §7 client data; RFC 8152 COSE keys), not
//! from webauthn-rs: it makes an ES256 credential and answers the hub's options as a browser
//! would, with knobs to answer wrongly (another origin or RP ID, a counter that goes back).

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Authenticator data flags (§6.1): user present, user verified, attested credential data.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

pub(crate) struct SoftAuthenticator {
    key: EcdsaKeyPair,
    pub credential_id: Vec<u8>,
    /// The signature counter of the next answer (incremented before signing).
    pub counter: u32,
    /// The user handle the credential was made with (base64url), once made.
    pub user_handle: Option<String>,
    /// What the "browser" puts into client data and the RP ID hash.
    pub origin: String,
    pub rp_id: String,
    /// Whether the authenticator says it verified the person (PIN, biometric).
    pub verifies_user: bool,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// CBOR (RFC 8949) head of a data item: major type and argument.
fn head(major: u8, value: u64) -> Vec<u8> {
    let major = major << 5;
    match value {
        0..=23 => vec![major | value as u8],
        24..=0xff => vec![major | 24, value as u8],
        0x100..=0xffff => {
            let mut out = vec![major | 25];
            out.extend_from_slice(&(value as u16).to_be_bytes());
            out
        }
        _ => {
            let mut out = vec![major | 26];
            out.extend_from_slice(&(value as u32).to_be_bytes());
            out
        }
    }
}

fn int(value: i64) -> Vec<u8> {
    if value >= 0 {
        head(0, value as u64)
    } else {
        head(1, (-1 - value) as u64)
    }
}

fn bytes(value: &[u8]) -> Vec<u8> {
    let mut out = head(2, value.len() as u64);
    out.extend_from_slice(value);
    out
}

fn text(value: &str) -> Vec<u8> {
    let mut out = head(3, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
    out
}

fn map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = head(5, entries.len() as u64);
    for (key, value) in entries {
        out.extend_from_slice(key);
        out.extend_from_slice(value);
    }
    out
}

impl SoftAuthenticator {
    /// A new authenticator for the site `origin` (RP ID: its host).
    pub(crate) fn new(origin: &str) -> SoftAuthenticator {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256 key");
        let mut credential_id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut credential_id).expect("random");
        let rp_id = url::Url::parse(origin)
            .expect("origin")
            .host_str()
            .expect("host")
            .to_string();
        SoftAuthenticator {
            key,
            credential_id,
            counter: 0,
            user_handle: None,
            origin: origin.trim_end_matches('/').to_string(),
            rp_id,
            verifies_user: true,
        }
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("options carry a challenge");
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .expect("client data")
    }

    fn authenticator_data(&mut self, flags: u8) -> Vec<u8> {
        self.counter += 1;
        let mut data = digest(&SHA256, self.rp_id.as_bytes()).as_ref().to_vec();
        let uv = if self.verifies_user { UV } else { 0 };
        data.push(flags | UP | uv);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// The COSE_Key (RFC 8152 §13.1.1) of the credential: EC2, ES256, P-256, x, y.
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        map(&[
            (int(1), int(2)),
            (int(3), int(-7)),
            (int(-1), int(1)),
            (int(-2), bytes(&point[1..33])),
            (int(-3), bytes(&point[33..65])),
        ])
    }

    /// Answers `navigator.credentials.create()` options as the hub sent them: a
    /// `PublicKeyCredential` as JSON, binary fields base64url.
    pub(crate) fn create(&mut self, options: &Value) -> String {
        self.user_handle = options["publicKey"]["user"]["id"]
            .as_str()
            .map(str::to_string);
        let client_data = self.client_data("webauthn.create", options);
        let mut auth_data = self.authenticator_data(AT);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());
        let attestation = map(&[
            (text("fmt"), text("none")),
            (text("attStmt"), map(&[])),
            (text("authData"), bytes(&auth_data)),
        ]);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client_data),
            },
            "extensions": {},
        })
        .to_string()
    }

    /// Answers `navigator.credentials.get()` options: an assertion signed with the
    /// credential's key, with the user handle (as a discoverable credential returns it).
    pub(crate) fn get(&mut self, options: &Value) -> String {
        let client_data = self.client_data("webauthn.get", options);
        let auth_data = self.authenticator_data(0);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(digest(&SHA256, &client_data).as_ref());
        let signature = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("signature");
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": self.user_handle,
            },
            "extensions": {},
        })
        .to_string()
    }
}

#[test]
fn cbor_heads_follow_rfc_8949() {
    assert_eq!(int(1), vec![0x01]);
    assert_eq!(int(-7), vec![0x26]);
    assert_eq!(int(24), vec![0x18, 0x18]);
    assert_eq!(int(-1), vec![0x20]);
    assert_eq!(text("fmt"), b"\x63fmt".to_vec());
    assert_eq!(head(2, 300), vec![0x59, 0x01, 0x2c]);
}
