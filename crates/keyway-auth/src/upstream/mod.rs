//! Sign-in through upstream OpenID Connect providers (`[[login.upstream]]` in keyway.toml):
//! the hub is the relying party of another provider for the sign-in step of its own
//! authorization requests. The pure parts (configuration rules, provider metadata, ID-token
//! validation, the sealed pending login) have no I/O; HTTP goes through [`UpstreamHttp`],
//! which the hub implements with timeouts and size limits.

mod config;
mod discovery;
mod flow;
mod id_token;
mod identities;
mod login_types;
mod pending;

use std::future::Future;
use std::pin::Pin;

pub use config::{Provision, UpstreamProvider, valid_login_type_name};
pub(crate) use discovery::UpstreamCache;
pub use flow::{CALLBACK_PATH, UpstreamCallback, UpstreamStart};
pub use id_token::IdTokenError;
pub use identities::UpstreamIdentity;
pub(crate) use identities::is_invisible;
pub(crate) use login_types::login_type_of;
pub use login_types::{LoginMethod, PASSWORD};
pub(crate) use pending::LoginSeal;

/// The answer of an upstream's token endpoint: HTTP status and body.
pub type FormResponse = (u16, String);

/// HTTP for upstream sign-in, provided by the hub (the domain crate has no HTTP client).
pub trait UpstreamHttp: Send + Sync + 'static {
    /// GETs a JSON document (discovery, JWKS); `Err` says why, for the error page.
    fn get_json<'a>(
        &'a self,
        url: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

    /// POSTs a form with HTTP Basic credentials (RFC 6749 §2.3.1 `client_secret_basic`).
    fn post_form<'a>(
        &'a self,
        url: &'a str,
        basic: (&'a str, &'a str),
        form: &'a [(&'a str, &'a str)],
    ) -> Pin<Box<dyn Future<Output = Result<FormResponse, String>> + Send + 'a>>;
}
