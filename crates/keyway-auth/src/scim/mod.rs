//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) over keyway's users and groups: the filter
//! grammar and its SQL compiler, PATCH, the resource mappings, discovery documents and the
//! operations the hub's `/scim/v2` handlers call. No HTTP here (docs/scim.md).

mod attrs;
mod body;
mod discovery;
mod error;
mod filter;
mod filter_eval;
#[cfg(test)]
mod filter_proptests;
mod filter_sql;
mod group;
mod groups_service;
mod list;
mod meta;
mod patch;
mod projection;
mod user;
mod users_service;
mod write;

pub use attrs::{ERROR_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
pub use discovery::{
    MAX_PAYLOAD_BYTES, MAX_RESULTS, list_response, resource_types, schemas, service_provider_config,
};
pub use error::{ScimError, ScimType};
pub use filter::{
    AttrPath, CompValue, CompareOp, Filter, MAX_FILTER_BYTES, MAX_FILTER_DEPTH, MAX_FILTER_TERMS,
    parse_filter,
};
pub use filter_sql::{Resource, compile};
pub use list::ListQuery;
pub use meta::{etag_matches, version_of};
pub use patch::{patch_group_json, patch_user_json};
pub use projection::Projection;
