//! Privacy-preserving record linkage: the partner side (hashing) and the hub side (linking).
//!
//! A partner site normalises patient identifiers and hashes them locally with the legacy
//! OneFlorida rules (bit-exact, so hash files made by the old tools still link), or with a
//! keyed HMAC mode the hub cannot reverse. Only hashes leave the site. The rules and their test
//! vectors are specified in `docs/linkage.md`.

pub mod batch;
mod crlf;
mod csv_cell;
mod dob;
mod error;
mod hash_csv;
pub mod linker;
mod normalize;
mod rules;
mod service;

pub use csv_cell::{csv_cell, read_cell};
pub use dob::{Date, parse_dob};
pub use error::{FieldError, LinkError};
pub use hash_csv::{ColumnMap, HashJob, HashSummary, hash_csv};
pub use normalize::{fold_accents, normalize_race, normalize_sex, normalize_text};
pub use rules::{HashKey, Person, Rule, RuleHasher};
pub use service::{LinkAdminError, LinkService};

#[cfg(test)]
mod linker_tests;
#[cfg(test)]
mod tests;
