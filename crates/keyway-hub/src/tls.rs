//! Native TLS for the hub (`keyway serve --tls-cert FILE --tls-key FILE`): rustls on aws-lc-rs,
//! TLS 1.2 and 1.3, HTTP/2 or HTTP/1.1 by ALPN.
//!
//! The certificate is reloaded without a restart: on SIGHUP, and when either file changes
//! (checked every [`WATCH_INTERVAL`]). A new pair is served only after it has been checked —
//! both files parse, the key belongs to the certificate, and today is within its validity —
//! so a half-copied, mismatched or expired pair is logged with its reason and the old one
//! stays. Connections already open keep the certificate they started with; new handshakes
//! get the new one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the certificate files are looked at for a change.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// A certificate or key file larger than this is not one (and is not read into memory).
const MAX_PEM_BYTES: u64 = 1024 * 1024;
/// A certificate closer than this to its end is served with a warning in the log.
const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// The certificate chain and private key files of `keyway serve --tls-cert/--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate first, then the intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

/// Why a certificate, key or CA file cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is larger than 1 MiB: it is not a PEM certificate or key file")]
    TooLarge { path: String },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    #[error("{path} holds no PEM private key (PKCS#8, RSA or EC -----BEGIN … PRIVATE KEY-----)")]
    NoKey { path: String },
    #[error("{path} is not valid PEM: {why}")]
    BadPem { path: String, why: String },
    #[error("the certificate in {path} cannot be parsed: {why}")]
    BadCertificate { path: String, why: String },
    #[error("the private key in {path} cannot be used: {why}")]
    BadKey { path: String, why: String },
    #[error("the key in {key} does not belong to the certificate in {cert}")]
    KeyMismatch { cert: String, key: String },
    #[error(
        "the key belongs to certificate number {at} in {path}: the server's own certificate \
         must come first, then its intermediates (as in certbot's fullchain.pem)"
    )]
    ChainOrder { path: String, at: usize },
    #[error("the certificate in {path} expired on {not_after}")]
    Expired { path: String, not_after: String },
    #[error("the certificate in {path} is not valid before {not_before}")]
    NotYetValid { path: String, not_before: String },
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// Reads a PEM file of at most [`MAX_PEM_BYTES`].
fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    let read = |source| TlsError::Read {
        path: shown(path),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_file() {
        // A directory, a FIFO or a device: nothing to read, or no end to it.
        return Err(read(std::io::Error::other("it is not a regular file")));
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge { path: shown(path) });
    }
    std::fs::read(path).map_err(read)
}

/// A PEM parse error in words. Nothing read from the file is repeated, but for a section
/// label that looks like one: a key flattened onto one line would otherwise be echoed into
/// the error and the log (the parser's own message carries the rest of the line).
fn pem_error(path: &Path, err: &rustls::pki_types::pem::Error) -> TlsError {
    use rustls::pki_types::pem::Error;
    let label = |bytes: &[u8]| {
        let fine = !bytes.is_empty()
            && bytes.len() <= 40
            && bytes
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b' ');
        fine.then(|| String::from_utf8_lossy(bytes).into_owned())
    };
    let why = match err {
        Error::MissingSectionEnd { end_marker } => match label(end_marker) {
            Some(label) => format!(
                "\"-----END {label}-----\" is missing (is the file cut short, or still being \
                 written?)"
            ),
            None => "a section has no end line (was the file put on one line? PEM needs its \
                     line breaks)"
                .into(),
        },
        Error::IllegalSectionStart { .. } => "a malformed \"-----BEGIN\" line".into(),
        Error::Base64Decode(_) => "a section is not valid base64".into(),
        Error::Io(err) => err.to_string(),
        Error::SectionTooLarge => "a section is too large".into(),
        Error::NoItemsFound => "no PEM section".into(),
        _ => "not valid PEM".into(),
    };
    TlsError::BadPem {
        path: shown(path),
        why,
    }
}

/// The certificates of a PEM file, in order; none is an error.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, &e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: shown(path) });
    }
    Ok(certs)
}

/// The certificates of a private CA's PEM file (`--ca-file`): trusted besides the public roots.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = certificates(path)?;
    for cert in &certs {
        validity(cert, path)?;
    }
    Ok(certs)
}

/// A certificate's validity as Unix seconds (not before, not after).
fn validity(cert: &CertificateDer<'_>, path: &Path) -> Result<(i64, i64), TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| {
        TlsError::BadCertificate {
            path: shown(path),
            why: e.to_string(),
        }
    })?;
    let validity = parsed.validity();
    Ok((
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ))
}

fn utc(seconds: i64) -> String {
    keyway_kernel::rfc3339::format_unix_secs(seconds)
}

/// A checked certificate and key, ready to serve.
struct Loaded {
    key: Arc<CertifiedKey>,
    not_after: i64,
}

/// Loads and checks the pair of `files` at time `now`.
fn load(files: &TlsFiles, provider: &CryptoProvider, now: SystemTime) -> Result<Loaded, TlsError> {
    let chain = certificates(&files.cert)?;
    let key_pem = read_pem(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: shown(&files.key),
        },
        other => pem_error(&files.key, &other),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::BadKey {
            path: shown(&files.key),
            why: e.to_string(),
        })?;
    let (not_before, not_after) = validity(&chain[0], &files.cert)?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if now > not_after {
        return Err(TlsError::Expired {
            path: shown(&files.cert),
            not_after: utc(not_after),
        });
    }
    if now < not_before {
        return Err(TlsError::NotYetValid {
            path: shown(&files.cert),
            not_before: utc(not_before),
        });
    }
    let certified = CertifiedKey::new(chain.clone(), signing.clone());
    if certified.keys_match().is_err() {
        // The key may belong to a later certificate of the file: a chain in the wrong order.
        let later = chain.iter().skip(1).position(|cert| {
            CertifiedKey::new(vec![cert.clone()], signing.clone())
                .keys_match()
                .is_ok()
        });
        return Err(match later {
            Some(at) => TlsError::ChainOrder {
                path: shown(&files.cert),
                at: at + 2,
            },
            None => TlsError::KeyMismatch {
                cert: shown(&files.cert),
                key: shown(&files.key),
            },
        });
    }
    Ok(Loaded {
        key: Arc::new(certified),
        not_after,
    })
}

/// The pair new handshakes get; swapped whole on a good reload.
#[derive(Debug)]
struct CurrentCertificate(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|current| current.clone())
    }
}

/// What a file looked like when last loaded: a change of any part means "reload". The
/// inode and change time catch a swap to files of the same size and modification time
/// (`cp -p`, `rsync -a`, a symlink moved to another such file).
type Stamp = Option<(SystemTime, u64, u64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((
        meta.modified().ok()?,
        meta.len(),
        meta.ino(),
        meta.ctime(),
        meta.ctime_nsec(),
    ))
}

/// The hub's TLS: the rustls configuration and the certificate it serves.
pub struct TlsServer {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: Arc<CurrentCertificate>,
    config: Arc<rustls::ServerConfig>,
}

impl TlsServer {
    /// Loads `files` (refusing a bad pair, with the reason) and builds the configuration.
    pub fn open(files: &TlsFiles) -> Result<TlsServer, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let loaded = load(files, &provider, SystemTime::now())?;
        warn_if_ending(files, loaded.not_after);
        let current = Arc::new(CurrentCertificate(RwLock::new(loaded.key)));
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::BadKey {
                path: shown(&files.key),
                why: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsServer {
            files: files.clone(),
            provider,
            current,
            config: Arc::new(config),
        })
    }

    /// The acceptor of the accept loop.
    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }

    /// Loads the files again; on success new handshakes get the new pair, on failure the old
    /// one stays and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = load(&self.files, &self.provider, SystemTime::now())?;
        warn_if_ending(&self.files, loaded.not_after);
        if let Ok(mut current) = self.current.0.write() {
            *current = loaded.key;
        }
        Ok(())
    }

    /// Reloads on SIGHUP and when a file changes, until `stop` turns true.
    pub(crate) async fn watch(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut hangups = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        ) {
            Ok(signal) => Some(signal),
            Err(err) => {
                tracing::warn!(error = %err, "SIGHUP cannot be watched; certificate files still are");
                None
            }
        };
        let mut seen = (stamp(&self.files.cert), stamp(&self.files.key));
        let mut ticks = tokio::time::interval(WATCH_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let asked = tokio::select! {
                _ = stop.changed() => return,
                _ = ticks.tick() => false,
                Some(()) = async { match hangups.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                } } => true,
            };
            let now = (stamp(&self.files.cert), stamp(&self.files.key));
            if !asked && now == seen {
                continue;
            }
            // A failed attempt is remembered too: it is logged once, not every tick.
            seen = now;
            let why = if asked { "SIGHUP" } else { "a file changed" };
            match self.reload() {
                Ok(()) => tracing::info!(
                    cert = %self.files.cert.display(),
                    "TLS certificate reloaded ({why})"
                ),
                Err(err) => tracing::warn!(
                    error = %err,
                    "TLS certificate not reloaded ({why}); still serving the previous one"
                ),
            }
        }
    }
}

fn warn_if_ending(files: &TlsFiles, not_after: i64) {
    let left = not_after.saturating_sub(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    );
    if left < i64::try_from(EXPIRY_WARNING.as_secs()).unwrap_or(i64::MAX) {
        tracing::warn!(
            cert = %files.cert.display(),
            expires = %utc(not_after),
            "the TLS certificate expires in less than 14 days"
        );
    }
}

/// Whether answers carry `Strict-Transport-Security`: for an https issuer, unless its host is
/// loopback (browsers would hold every `localhost` site to https for a year).
pub(crate) fn sends_hsts(issuer: &str) -> bool {
    let Ok(url) = url::Url::parse(issuer) else {
        return false;
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost" || name.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    };
    url.scheme() == "https" && !loopback
}

/// `Strict-Transport-Security` on every answer of an https hub: a year, this host only (a
/// sibling host on plain http is not the hub's to break).
pub(crate) async fn strict_transport(
    mut response: axum::response::Response,
) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::STRICT_TRANSPORT_SECURITY,
        axum::http::HeaderValue::from_static(HSTS),
    );
    response
}

/// The `Strict-Transport-Security` an https hub sends.
pub(crate) const HSTS: &str = "max-age=31536000";

#[cfg(test)]
mod tests {
    #[test]
    fn hsts_only_for_an_https_issuer_off_loopback() {
        assert!(super::sends_hsts("https://auth.example.org"));
        assert!(!super::sends_hsts("http://auth.example.org"));
        assert!(!super::sends_hsts("https://localhost:8443"));
        assert!(!super::sends_hsts("https://127.0.0.1:8443"));
        assert!(!super::sends_hsts("https://[::1]:8443"));
    }
}
