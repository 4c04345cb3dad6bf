//! `/Users` and `/Groups`: list, create, read, replace, patch, delete.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use keyway_auth::scim::{self, ListQuery, Projection};
use serde_json::Value;

use super::request::{header_text, json_body, not_modified, pairs, resource_response};
use super::{ScimCaller, ScimHttpError, base_url};
use crate::AppState;

#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    User,
    Group,
}

impl Kind {
    /// The resource type's name in paths and the audit log.
    fn path(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    fn schema(self) -> &'static str {
        match self {
            Kind::User => scim::USER_SCHEMA,
            Kind::Group => scim::GROUP_SCHEMA,
        }
    }
}

fn projection(query: Option<&str>, kind: Kind) -> Result<Projection, ScimHttpError> {
    let pairs = pairs(query);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    Ok(Projection::parse(
        get("attributes"),
        get("excludedAttributes"),
        kind.schema(),
    )?)
}

pub(super) async fn list(
    _: ScimCaller,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    kind: Kind,
) -> Result<Response, ScimHttpError> {
    let query = ListQuery::from_pairs(&pairs(query.as_deref()), kind.schema())?;
    list_page(&state, &query, kind).await
}

/// `POST /Users/.search`, `POST /Groups/.search` (RFC 7644 §3.4.3); any other id takes no
/// POST.
pub(super) async fn search(
    _: ScimCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
    kind: Kind,
) -> Result<Response, ScimHttpError> {
    if id != ".search" {
        return Err(item_method_error());
    }
    let body = json_body(&headers, body).await?;
    let query = ListQuery::from_search(&body, kind.schema())?;
    list_page(&state, &query, kind).await
}

/// One page of a list or `.search` (RFC 7644 §3.4.2), as the answer.
async fn list_page(
    state: &AppState,
    query: &ListQuery,
    kind: Kind,
) -> Result<Response, ScimHttpError> {
    let base = base_url(state);
    let page = match kind {
        Kind::User => state.auth.scim_list_users(&base, query).await?,
        Kind::Group => state.auth.scim_list_groups(&base, query).await?,
    };
    Ok(super::request::json_response(page))
}

pub(super) async fn create(
    caller: ScimCaller,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
    kind: Kind,
) -> Result<Response, ScimHttpError> {
    let shown = projection(query.as_deref(), kind)?;
    let body = json_body(&headers, body).await?;
    let base = base_url(&state);
    let full = match kind {
        Kind::User => state.auth.scim_create_user(&base, &body).await?,
        Kind::Group => state.auth.scim_create_group(&base, &body).await?,
    };
    let id = full["id"].as_str().unwrap_or_default();
    caller
        .audited(&state, "scim.create", format!("{}/{id}", kind.path()))
        .await;
    Ok(resource_response(
        StatusCode::CREATED,
        &full,
        shown.apply(full.clone()),
    ))
}

async fn current(state: &AppState, kind: Kind, id: &str) -> Result<Value, ScimHttpError> {
    let base = base_url(state);
    Ok(match kind {
        Kind::User => state.auth.scim_get_user(&base, id).await?,
        Kind::Group => state.auth.scim_get_group(&base, id).await?,
    })
}

pub(super) async fn read(
    _: ScimCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    kind: Kind,
) -> Result<Response, ScimHttpError> {
    let shown = projection(query.as_deref(), kind)?;
    let full = current(&state, kind, &id).await?;
    if header_text(&headers, header::IF_NONE_MATCH)
        .is_some_and(|tags| scim::etag_matches(tags, scim::version_of(&full)))
    {
        return Ok(not_modified(&full));
    }
    Ok(resource_response(
        StatusCode::OK,
        &full,
        shown.apply(full.clone()),
    ))
}

pub(super) async fn replace(
    caller: ScimCaller,
    state: State<AppState>,
    id: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
    kind: Kind,
) -> Result<Response, ScimHttpError> {
    write(
        caller,
        state,
        id,
        query,
        headers,
        body,
        kind,
        Write::Replace,
    )
    .await
}

pub(super) async fn patch(
    caller: ScimCaller,
    state: State<AppState>,
    id: Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
    kind: Kind,
) -> Result<Response, ScimHttpError> {
    write(caller, state, id, query, headers, body, kind, Write::Patch).await
}

/// How a PUT or a PATCH changes a resource.
#[derive(Clone, Copy)]
enum Write {
    Replace,
    Patch,
}

/// PUT and PATCH: the body read, the change made under `If-Match`, the result projected.
#[allow(clippy::too_many_arguments)] // an axum handler's extractors, passed on as they are
async fn write(
    caller: ScimCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
    kind: Kind,
    how: Write,
) -> Result<Response, ScimHttpError> {
    let shown = projection(query.as_deref(), kind)?;
    let body = json_body(&headers, body).await?;
    let if_match = header_text(&headers, header::IF_MATCH);
    let base = base_url(&state);
    let auth = &state.auth;
    let full = match (kind, how) {
        (Kind::User, Write::Replace) => auth.scim_replace_user(&base, &id, &body, if_match).await?,
        (Kind::Group, Write::Replace) => {
            auth.scim_replace_group(&base, &id, &body, if_match).await?
        }
        (Kind::User, Write::Patch) => auth.scim_patch_user(&base, &id, &body, if_match).await?,
        (Kind::Group, Write::Patch) => auth.scim_patch_group(&base, &id, &body, if_match).await?,
    };
    let action = match how {
        Write::Replace => "scim.replace",
        Write::Patch => "scim.patch",
    };
    caller
        .audited(&state, action, format!("{}/{id}", kind.path()))
        .await;
    Ok(resource_response(
        StatusCode::OK,
        &full,
        shown.apply(full.clone()),
    ))
}

pub(super) async fn delete(
    caller: ScimCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    kind: Kind,
) -> Result<StatusCode, ScimHttpError> {
    let if_match = header_text(&headers, header::IF_MATCH);
    let base = base_url(&state);
    match kind {
        Kind::User => state.auth.scim_delete_user(&base, &id, if_match).await?,
        Kind::Group => state.auth.scim_delete_group(&base, &id, if_match).await?,
    }
    caller
        .audited(&state, "scim.delete", format!("{}/{id}", kind.path()))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn collection_method(_: ScimCaller) -> ScimHttpError {
    ScimHttpError::MethodNotAllowed {
        allow: "GET, POST",
        detail: "a collection allows GET and POST (POST to .search searches)".into(),
    }
}

pub(super) async fn item_method(_: ScimCaller) -> ScimHttpError {
    item_method_error()
}

fn item_method_error() -> ScimHttpError {
    ScimHttpError::MethodNotAllowed {
        allow: "GET, PUT, PATCH, DELETE",
        detail: "a resource allows GET, PUT, PATCH and DELETE".into(),
    }
}
