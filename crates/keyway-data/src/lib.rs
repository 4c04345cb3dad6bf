//! The schema-driven data API's domain: the schema model (entities declared in YAML or TOML,
//! validated with precise messages) and the OData `$filter` grammar, type-checked against the
//! schema and compiled to parameterised SQL — never string-pasted.

mod apply;
mod apply_exec;
mod body;
mod csdl;
mod deep_insert;
mod expand;
mod expand_exec;
mod expand_join;
/// RFC 3339 dates and date-times: the kernel's grammar, shared with the CLI.
pub use keyway_kernel::rfc3339 as datetime;
mod export;
pub mod filter;
mod formats;
mod id_counters;
mod ids;
mod openapi;
mod query;
mod references;
#[cfg(test)]
mod relations_tests;
pub mod schema;
mod search;
mod search_index;
mod service;
#[cfg(test)]
mod service_tests;
mod table;
mod v2;
mod writes;

pub use csdl::{metadata_json, metadata_xml, service_document};
pub use datetime::{DateTimeError, Timestamp, parse_date, parse_date_time};
pub use expand::{ExpandRequest, MAX_EXPAND_DEPTH};
pub use export::ExportPage;
pub use filter::{Dialect, FilterError, SqlFragment, SqlValue, compile_filter, parse_filter};
pub use openapi::openapi_document;
pub use query::{CollectionQuery, QueryError, shortened};
pub use schema::{
    Entity, IdType, MAX_INTEGER_ID, OnDelete, Property, PropertyType, Relation, RelationKind,
    SchemaError, SchemaSet,
};
pub use search::{MAX_SEARCH_TERMS, Search};
pub use service::{DEFAULT_PAGE_SIZE, DataError, DataService, Item, Page};
pub use table::{TableError, sync_tables, table_name};
pub use v2::{
    body_from_v2, entry_v2, key_from_v2, metadata_v2_xml, pairs_from_v2, service_document_v2,
};
pub use writes::{UpdateMode, WriteOp, WriteOutcome};
