//! `ServiceProviderConfig`, `ResourceTypes`, `Schemas` (RFC 7644 §4), and SCIM 404s for
//! every other path under `/scim/v2`.

use axum::extract::{Path, State};
use axum::response::Response;
use keyway_auth::scim;

use super::request::json_response;
use super::{ScimCaller, ScimHttpError, base_url};
use crate::AppState;

pub(super) async fn service_provider_config(
    _: ScimCaller,
    State(state): State<AppState>,
) -> Response {
    json_response(scim::service_provider_config(&base_url(&state)))
}

pub(super) async fn resource_types(_: ScimCaller, State(state): State<AppState>) -> Response {
    json_response(scim::list_response(scim::resource_types(&base_url(&state))))
}

pub(super) async fn resource_type(
    _: ScimCaller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ScimHttpError> {
    scim::resource_types(&base_url(&state))
        .into_iter()
        .find(|t| t["id"] == name.as_str())
        .map(json_response)
        .ok_or_else(|| ScimHttpError::NotFound(format!("no resource type {name:?}")))
}

pub(super) async fn schemas(_: ScimCaller, State(state): State<AppState>) -> Response {
    json_response(scim::list_response(scim::schemas(&base_url(&state))))
}

pub(super) async fn schema(
    _: ScimCaller,
    State(state): State<AppState>,
    Path(urn): Path<String>,
) -> Result<Response, ScimHttpError> {
    scim::schemas(&base_url(&state))
        .into_iter()
        .find(|s| s["id"] == urn.as_str())
        .map(json_response)
        .ok_or_else(|| ScimHttpError::NotFound(format!("no schema {urn:?}")))
}

pub(super) async fn read_only(_: ScimCaller) -> ScimHttpError {
    ScimHttpError::MethodNotAllowed {
        allow: "GET",
        detail: "discovery documents are read-only".into(),
    }
}

pub(super) async fn unknown(_: ScimCaller) -> ScimHttpError {
    ScimHttpError::NotFound(
        "no such SCIM endpoint (Users, Groups, ServiceProviderConfig, ResourceTypes, Schemas)"
            .into(),
    )
}

/// `POST /.search` over every resource type at once is not served: one page cannot be cut
/// from two tables without reading both whole. `/Users/.search` and `/Groups/.search` are.
pub(super) async fn search_everything(_: ScimCaller) -> ScimHttpError {
    ScimHttpError::NotImplemented(
        "searching every resource type at once is not served; POST to /Users/.search or \
         /Groups/.search"
            .into(),
    )
}
