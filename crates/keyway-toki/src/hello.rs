//! Session establishment: a signed `Hello` from the caller, a signed `Welcome` from the callee,
//! both carrying ephemeral X25519 keys (docs/toki.md, "Handshake").

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use zeroize::Zeroizing;

use crate::clock::Entropy;
use crate::encoding::{Reader, b64, put_prefixed};
use crate::error::TokiError;
use crate::identity::{ServiceId, TokiKeyPair, TokiPublicKey};
use crate::keys::{LABEL_HELLO, LABEL_WELCOME, Secret, session_root, transcript_hash};

pub(crate) const VERSION: u8 = 1;

/// A session's 16-byte identifier, chosen at random by the callee. Shown as base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 16]);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // On a stack buffer: written into every canonical string and token.
        let mut text = [0u8; 22];
        match URL_SAFE_NO_PAD.encode_slice(self.0, &mut text) {
            Ok(len) => f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?),
            Err(_) => f.write_str(&b64(&self.0)),
        }
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// The caller's first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub caller: ServiceId,
    pub callee: ServiceId,
    pub ephemeral_public: [u8; 32],
    pub created_ms: u64,
    pub nonce: [u8; 16],
    pub signature: [u8; 64],
}

impl Hello {
    /// Everything but the signature: `0x01 · lp(caller) · lp(callee) · ephemeral · created · nonce`.
    pub(crate) fn unsigned_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 4 + 32 + 8 + 16 + 64 + 64);
        out.push(VERSION);
        put_prefixed(&mut out, self.caller.as_str().as_bytes());
        put_prefixed(&mut out, self.callee.as_str().as_bytes());
        out.extend_from_slice(&self.ephemeral_public);
        out.extend_from_slice(&self.created_ms.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        out
    }

    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = self.unsigned_wire();
        out.extend_from_slice(&self.signature);
        out
    }

    pub fn from_wire(wire: &[u8]) -> Result<Hello, TokiError> {
        let mut reader = Reader::new(wire, "hello");
        if reader.fixed::<1>()? != [VERSION] {
            return Err(TokiError::UnsupportedVersion);
        }
        let caller = service_id(reader.prefixed()?)?;
        let callee = service_id(reader.prefixed()?)?;
        let ephemeral_public = reader.fixed()?;
        let created_ms = u64::from_be_bytes(reader.fixed()?);
        let nonce = reader.fixed()?;
        let signature = reader.fixed()?;
        reader.finish()?;
        Ok(Hello {
            caller,
            callee,
            ephemeral_public,
            created_ms,
            nonce,
            signature,
        })
    }

    /// `"keyway-toki v1 hello" · 0x00 · unsigned hello`.
    pub fn signature_input(&self) -> Vec<u8> {
        labelled(LABEL_HELLO, &[&self.unsigned_wire()])
    }
}

/// The callee's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub session_id: SessionId,
    pub ephemeral_public: [u8; 32],
    pub signature: [u8; 64],
}

impl Welcome {
    /// Everything but the signature: `0x01 · session id · ephemeral`.
    pub(crate) fn unsigned_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 16 + 32 + 64);
        out.push(VERSION);
        out.extend_from_slice(&self.session_id.0);
        out.extend_from_slice(&self.ephemeral_public);
        out
    }

    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = self.unsigned_wire();
        out.extend_from_slice(&self.signature);
        out
    }

    pub fn from_wire(wire: &[u8]) -> Result<Welcome, TokiError> {
        let mut reader = Reader::new(wire, "welcome");
        if reader.fixed::<1>()? != [VERSION] {
            return Err(TokiError::UnsupportedVersion);
        }
        let session_id = SessionId(reader.fixed()?);
        let ephemeral_public = reader.fixed()?;
        let signature = reader.fixed()?;
        reader.finish()?;
        Ok(Welcome {
            session_id,
            ephemeral_public,
            signature,
        })
    }

    /// `"keyway-toki v1 welcome" · 0x00 · hello wire (signed) · unsigned welcome`.
    pub fn signature_input(&self, hello_wire: &[u8]) -> Vec<u8> {
        labelled(LABEL_WELCOME, &[hello_wire, &self.unsigned_wire()])
    }
}

fn labelled(label: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(label.len() + 1 + parts.iter().map(|p| p.len()).sum::<usize>());
    out.extend_from_slice(label);
    out.push(0);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

fn service_id(bytes: &[u8]) -> Result<ServiceId, TokiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| TokiError::InvalidServiceId)?;
    ServiceId::new(text)
}

/// An ephemeral X25519 key. Its 32 private bytes exist outside aws-lc only inside
/// `Zeroizing`, and aws-lc cleanses the key when it is dropped.
pub(crate) struct Ephemeral {
    private: PrivateKey,
    pub(crate) public: [u8; 32],
}

impl Ephemeral {
    pub(crate) fn generate(entropy: &dyn Entropy) -> Result<Ephemeral, TokiError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        entropy.fill(bytes.as_mut());
        Ephemeral::from_private_bytes(&bytes)
    }

    pub(crate) fn from_private_bytes(bytes: &[u8; 32]) -> Result<Ephemeral, TokiError> {
        let private =
            PrivateKey::from_private_key(&X25519, bytes).map_err(|_| TokiError::BadKey)?;
        let public_key = private
            .compute_public_key()
            .map_err(|_| TokiError::BadKey)?;
        let mut public = [0u8; 32];
        if public_key.as_ref().len() != 32 {
            return Err(TokiError::BadKey);
        }
        public.copy_from_slice(public_key.as_ref());
        Ok(Ephemeral { private, public })
    }

    /// Agrees with the peer's ephemeral key and derives the session root; consumes (drops) the
    /// private key. An all-zero shared secret (a low-order peer key) is refused by aws-lc.
    pub(crate) fn into_session_root(
        self,
        peer_public: &[u8; 32],
        transcript: &[u8; 32],
    ) -> Result<Secret, TokiError> {
        agreement::agree(
            &self.private,
            UnparsedPublicKey::new(&X25519, peer_public),
            TokiError::KeyAgreement,
            |shared| session_root(shared, transcript),
        )
    }
}

/// The caller's state between sending a `Hello` and receiving the `Welcome`.
pub struct PendingHello {
    pub(crate) hello: Hello,
    pub(crate) hello_wire: Vec<u8>,
    ephemeral: Ephemeral,
}

impl PendingHello {
    /// Builds and signs a hello from `caller` to `callee`, drawing the ephemeral key and then the
    /// 16-byte nonce from `entropy`.
    pub fn new(
        identity: &TokiKeyPair,
        caller: ServiceId,
        callee: ServiceId,
        now_ms: i64,
        entropy: &dyn Entropy,
    ) -> Result<PendingHello, TokiError> {
        let ephemeral = Ephemeral::generate(entropy)?;
        let mut nonce = [0u8; 16];
        entropy.fill(&mut nonce);
        let mut hello = Hello {
            caller,
            callee,
            ephemeral_public: ephemeral.public,
            created_ms: u64::try_from(now_ms).map_err(|_| TokiError::HelloFromFuture)?,
            nonce,
            signature: [0u8; 64],
        };
        hello.signature = identity.sign(&hello.signature_input());
        let hello_wire = hello.to_wire();
        Ok(PendingHello {
            hello,
            hello_wire,
            ephemeral,
        })
    }

    /// The bytes to send to the callee.
    pub fn wire(&self) -> &[u8] {
        &self.hello_wire
    }

    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Checks the callee's signature over the transcript and derives the session root. The
    /// ephemeral private key is dropped whatever the outcome.
    pub(crate) fn complete(
        self,
        welcome_wire: &[u8],
        callee_key: &TokiPublicKey,
    ) -> Result<(Hello, SessionId, Secret), TokiError> {
        let welcome = Welcome::from_wire(welcome_wire)?;
        callee_key.verify(
            &welcome.signature_input(&self.hello_wire),
            &welcome.signature,
        )?;
        let transcript = transcript_hash(&self.hello_wire, welcome_wire);
        let root = self
            .ephemeral
            .into_session_root(&welcome.ephemeral_public, &transcript)?;
        Ok((self.hello, welcome.session_id, root))
    }
}

/// The callee's side once a hello has passed every check: answers it and derives the root.
pub(crate) fn answer_hello(
    identity: &TokiKeyPair,
    hello_wire: &[u8],
    hello: &Hello,
    entropy: &dyn Entropy,
) -> Result<(Vec<u8>, SessionId, Secret), TokiError> {
    let ephemeral = Ephemeral::generate(entropy)?;
    let mut session_id = [0u8; 16];
    entropy.fill(&mut session_id);
    let mut welcome = Welcome {
        session_id: SessionId(session_id),
        ephemeral_public: ephemeral.public,
        signature: [0u8; 64],
    };
    welcome.signature = identity.sign(&welcome.signature_input(hello_wire));
    let welcome_wire = welcome.to_wire();
    let transcript = transcript_hash(hello_wire, &welcome_wire);
    let root = ephemeral.into_session_root(&hello.ephemeral_public, &transcript)?;
    Ok((welcome_wire, welcome.session_id, root))
}
