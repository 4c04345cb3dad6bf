//! TLS 1.3 with raw public keys (RFC 7250) on aws-lc-rs: both sides present an Ed25519 key
//! instead of a certificate. The server admits only keys in its `authorized_keys`; the client
//! checks the server key against its pin after the handshake, before sending anything.

use std::sync::Arc;

use rustls::client::AlwaysResolvesClientRawPublicKeys;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer,
    UnixTime,
};
use rustls::server::AlwaysResolvesServerRawPublicKeys;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, PeerIncompatible,
    SignatureScheme,
};

use crate::{AuthorizedKeys, Identity, PublicKey, TransferError};

/// ALPN name: the protocol and its version.
pub(crate) const ALPN: &[u8] = b"keyway-transfer/2";

/// Encrypted bytes rustls may queue before writing them out (its default is 64 KiB): a whole
/// DATA frame is encrypted and leaves in a few large `writev` calls.
pub(crate) const SEND_BUFFER: usize = 1 << 20;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

fn certified(
    identity: &Identity,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TransferError> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.pkcs8().to_vec()));
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TransferError::BadKey(e.to_string()))?;
    let spki = CertificateDer::from(identity.public_key().to_spki());
    Ok(Arc::new(CertifiedKey::new(vec![spki], signing)))
}

fn tls(e: Error) -> TransferError {
    TransferError::Tls(e.to_string())
}

pub(crate) fn server_config(
    identity: &Identity,
    authorized: Arc<AuthorizedKeys>,
) -> Result<rustls::ServerConfig, TransferError> {
    let provider = provider();
    let verifier = ClientKeyVerifier {
        authorized,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(AlwaysResolvesServerRawPublicKeys::new(certified(
            identity, &provider,
        )?)));
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

pub(crate) fn client_config(identity: &Identity) -> Result<rustls::ClientConfig, TransferError> {
    let provider = provider();
    let verifier = AnyServerKey {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(Arc::new(AlwaysResolvesClientRawPublicKeys::new(certified(
            identity, &provider,
        )?)));
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// The Ed25519 key inside a peer's raw-public-key "certificate".
pub(crate) fn peer_key(certs: Option<&[CertificateDer<'_>]>) -> Option<PublicKey> {
    certs?
        .first()
        .and_then(|c| PublicKey::from_spki(c.as_ref()))
}

fn verify_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, Error> {
    if dss.scheme != SignatureScheme::ED25519 {
        return Err(PeerIncompatible::NoSignatureSchemesInCommon.into());
    }
    rustls::crypto::verify_tls13_signature_with_raw_key(
        message,
        &SubjectPublicKeyInfoDer::from(cert.as_ref()),
        dss,
        algorithms,
    )
}

/// Server side: the client's key must be in `authorized_keys`.
#[derive(Debug)]
struct ClientKeyVerifier {
    authorized: Arc<AuthorizedKeys>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for ClientKeyVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        match PublicKey::from_spki(end_entity.as_ref()) {
            Some(key) if self.authorized.rights(&key).is_some() => {
                Ok(ClientCertVerified::assertion())
            }
            Some(key) => {
                tracing::warn!(fingerprint = %key.fingerprint(), "refused a client key not in authorized_keys");
                Err(Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            }
            None => Err(Error::InvalidCertificate(CertificateError::BadEncoding)),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(PeerIncompatible::Tls12NotOffered.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// Client side during the handshake: any well-formed Ed25519 key that signs the handshake.
/// Which key is acceptable is decided right after, against the pin (known_hosts).
#[derive(Debug)]
struct AnyServerKey {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyServerKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match PublicKey::from_spki(end_entity.as_ref()) {
            Some(_) => Ok(ServerCertVerified::assertion()),
            None => Err(Error::InvalidCertificate(CertificateError::BadEncoding)),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(PeerIncompatible::Tls12NotOffered.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}
