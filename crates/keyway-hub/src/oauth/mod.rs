mod browser;
pub(crate) mod discovery;
mod endpoints;
mod logout;
mod par;
mod transmit;
mod upstream;
mod userinfo;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub(crate) const AUTHORIZE: &str = "/oauth2/authorize";
pub(crate) const LOGIN: &str = "/oauth2/login";
pub(crate) const CONSENT: &str = "/oauth2/consent";
pub(crate) const TOKEN: &str = "/oauth2/token";
pub(crate) const INTROSPECT: &str = "/oauth2/introspect";
pub(crate) const REVOKE: &str = "/oauth2/revoke";
pub(crate) const PAR: &str = "/oauth2/par";
pub(crate) const JWKS: &str = "/oauth2/jwks";
pub(crate) const USERINFO: &str = "/oauth2/userinfo";
pub(crate) const END_SESSION: &str = "/oauth2/logout";
pub(crate) const UPSTREAM_START: &str = upstream::START;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(AUTHORIZE, get(browser::authorize))
        .route(LOGIN, post(browser::login))
        .route(CONSENT, post(browser::consent))
        .route(TOKEN, post(endpoints::token))
        .route(INTROSPECT, post(endpoints::introspect))
        .route(REVOKE, post(endpoints::revoke))
        .route(PAR, post(par::push))
        .route(transmit::TRANSMIT, post(transmit::start))
        .route(transmit::TRANSMIT_LINK, get(transmit::open))
        .route(upstream::START, post(upstream::start))
        .route(upstream::CALLBACK, get(upstream::callback))
        .route(
            END_SESSION,
            get(logout::end_session_get).post(logout::end_session_post),
        )
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
