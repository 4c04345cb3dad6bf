//! The schema-driven data API's domain: the schema model (entities declared in YAML or TOML,
//! validated with precise messages) and the OData `$filter` grammar, type-checked against the
//! schema and compiled to parameterised SQL — never string-pasted.

pub mod filter;
mod openapi;
pub mod schema;

pub use filter::{Dialect, FilterError, SqlFragment, SqlValue, compile_filter, parse_filter};
pub use openapi::openapi_document;
pub use schema::{Entity, Property, PropertyType, SchemaError, SchemaSet};
