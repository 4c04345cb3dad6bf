//! Fetches clients' JWK Sets over HTTPS (plain HTTP only on loopback, as at registration), and
//! is the HTTP client of upstream sign-in (`upstream_http.rs`): the same timeouts, no redirects
//! followed, bodies read up to a limit.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use keyway_auth::JwksSource;
use rustls::pki_types::CertificateDer;

/// A JWKS larger than this is not a JWKS.
const MAX_JWKS_BYTES: usize = 64 * 1024;

pub(crate) struct HttpJwksSource {
    pub(crate) client: reqwest::Client,
}

impl HttpJwksSource {
    pub(crate) fn new(
        private_ca: &[CertificateDer<'static>],
    ) -> Result<HttpJwksSource, reqwest::Error> {
        Ok(HttpJwksSource {
            client: outbound_client(private_ca)?,
        })
    }
}

/// The hub's client for calls it makes on its own (JWKS, upstream providers, back-channel
/// logout): 5 s to answer, 3 s to connect, no redirects followed; `private_ca` is trusted
/// besides the public roots.
pub(crate) fn outbound_client(
    private_ca: &[CertificateDer<'static>],
) -> Result<reqwest::Client, reqwest::Error> {
    // rustls needs one process-wide crypto provider; keyway uses aws-lc-rs everywhere.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    trusting(reqwest::Client::builder(), private_ca)?
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("keyway/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `builder` trusting `private_ca` (`--ca-file`, [`crate::read_ca_file`]) besides the public
/// roots: every HTTP client of keyway that may meet a private CA is built through this.
pub fn trusting(
    mut builder: reqwest::ClientBuilder,
    private_ca: &[CertificateDer<'static>],
) -> Result<reqwest::ClientBuilder, reqwest::Error> {
    for cert in private_ca {
        builder = builder.add_root_certificate(reqwest::Certificate::from_der(cert.as_ref())?);
    }
    Ok(builder)
}

impl JwksSource for HttpJwksSource {
    fn fetch<'a>(
        &'a self,
        uri: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async move {
            let response = self
                .client
                .get(uri)
                .header(
                    reqwest::header::ACCEPT,
                    "application/jwk-set+json, application/json",
                )
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            read_limited(response, MAX_JWKS_BYTES).await
        })
    }
}

/// A response body as UTF-8 text, refused once it grows past `limit` bytes.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<String, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            return Err(format!("answer larger than {} KiB", limit / 1024));
        }
    }
    String::from_utf8(body).map_err(|_| "answer is not UTF-8".to_string())
}
