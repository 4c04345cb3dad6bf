//! `/scim/v2`: SCIM 2.0 provisioning (docs/scim.md). Every route takes [`ScimCaller`], a
//! [`Authorized`] caller holding the scope `scim`, so a route cannot skip the check; handlers
//! translate HTTP (media types, body cap, ETag headers, projections) and call one
//! `AuthService::scim_*` operation.

mod discovery;
mod error;
mod request;
mod resources;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{any, get};

use crate::AppState;
use crate::api_error::ApiError;
use crate::caller::{Authorized, Caller, required_scope};
pub(crate) use error::ScimHttpError;

required_scope!(
    /// A provisioning client (an identity manager pushing users and groups).
    Provision = "scim"
);

/// A caller with the scope `scim`; refusals are SCIM error JSON.
pub(crate) struct ScimCaller {
    /// The provisioning client, as the audit log names whoever made a change.
    pub(crate) client_id: String,
}

impl ScimCaller {
    /// Records a change this caller made (`scim.create`, … on a resource's path).
    pub(crate) async fn audited(&self, state: &AppState, action: &str, resource: String) {
        let actor = format!("scim:{}", self.client_id);
        state
            .auth
            .audit_change_by(&actor, action, &resource, None)
            .await;
    }
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimHttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let authorized = Authorized::<Provision>::from_request_parts(parts, state).await?;
        // Provisioning is a client's own power, never one a user delegates: a sign-in client
        // registered with `scim` would otherwise give every one of its users the power to make
        // themselves administrators. A client's own token (client_credentials) has the client
        // as its subject and no username; toki callers are services.
        if let Caller::Bearer(claims) = authorized.caller()
            && (claims.sub != claims.client_id || claims.username.is_some())
        {
            return Err(ApiError::Forbidden(
                "SCIM takes a client's own token (client_credentials), not one a user delegated"
                    .into(),
            )
            .into());
        }
        Ok(ScimCaller {
            client_id: authorized.caller().client_id().to_string(),
        })
    }
}

/// The base URL of the SCIM service (resource locations start with it).
pub(crate) fn base_url(state: &AppState) -> String {
    format!("{}/scim/v2", state.auth.config().issuer)
}

/// Every SCIM answer holds personal data or says something about it: never cached, never
/// sniffed.
async fn private_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

pub(crate) fn routes() -> Router<AppState> {
    routes_without_headers().layer(axum::middleware::map_response(private_headers))
}

/// A resource type's collection (`path`) and its items (`path/{id}`, `path/.search`).
fn resource_routes(path: &str, kind: resources::Kind) -> Router<AppState> {
    Router::new()
        .route(
            path,
            get(move |c, s, q| resources::list(c, s, q, kind))
                .post(move |c, s, q, h, b| resources::create(c, s, q, h, b, kind))
                .fallback(resources::collection_method),
        )
        .route(
            &format!("{path}/{{id}}"),
            get(move |c, s, p, q, h| resources::read(c, s, p, q, h, kind))
                .put(move |c, s, p, q, h, b| resources::replace(c, s, p, q, h, b, kind))
                .patch(move |c, s, p, q, h, b| resources::patch(c, s, p, q, h, b, kind))
                .delete(move |c, s, p, h| resources::delete(c, s, p, h, kind))
                .post(move |c, s, p, h, b| resources::search(c, s, p, h, b, kind))
                .fallback(resources::item_method),
        )
}

fn routes_without_headers() -> Router<AppState> {
    use resources::Kind;
    Router::new()
        .merge(resource_routes("/scim/v2/Users", Kind::User))
        .merge(resource_routes("/scim/v2/Groups", Kind::Group))
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(discovery::service_provider_config).fallback(discovery::read_only),
        )
        .route(
            "/scim/v2/ResourceTypes",
            get(discovery::resource_types).fallback(discovery::read_only),
        )
        .route(
            "/scim/v2/ResourceTypes/{name}",
            get(discovery::resource_type).fallback(discovery::read_only),
        )
        .route(
            "/scim/v2/Schemas",
            get(discovery::schemas).fallback(discovery::read_only),
        )
        .route(
            "/scim/v2/Schemas/{urn}",
            get(discovery::schema).fallback(discovery::read_only),
        )
        .route("/scim/v2/.search", any(discovery::search_everything))
        .route("/scim/v2", any(discovery::unknown))
        .route("/scim/v2/{*rest}", any(discovery::unknown))
}
