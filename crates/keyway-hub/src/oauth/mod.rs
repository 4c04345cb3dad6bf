mod browser;
pub mod discovery;
mod endpoints;
mod userinfo;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub const AUTHORIZE: &str = "/oauth2/authorize";
pub const LOGIN: &str = "/oauth2/login";
pub const CONSENT: &str = "/oauth2/consent";
pub const TOKEN: &str = "/oauth2/token";
pub const INTROSPECT: &str = "/oauth2/introspect";
pub const REVOKE: &str = "/oauth2/revoke";
pub const JWKS: &str = "/oauth2/jwks";
pub const USERINFO: &str = "/oauth2/userinfo";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(AUTHORIZE, get(browser::authorize))
        .route(LOGIN, post(browser::login))
        .route(CONSENT, post(browser::consent))
        .route(TOKEN, post(endpoints::token))
        .route(INTROSPECT, post(endpoints::introspect))
        .route(REVOKE, post(endpoints::revoke))
        .route(JWKS, get(discovery::jwks))
        .route(USERINFO, get(userinfo::userinfo).post(userinfo::userinfo))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::oauth_metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_metadata),
        )
        .fallback(crate::errors::not_found)
}
