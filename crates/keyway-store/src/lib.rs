//! Persistence for keyway.
//!
//! One [`Store`] serves SQLite (the embedded default), PostgreSQL and MySQL/MariaDB. Queries are
//! written once, with `?` placeholders, and run through sqlx's `Any` driver; the only dialect
//! difference the code sees is the placeholder style, which [`Store::sql`] rewrites for
//! PostgreSQL. Each backend has its own migrations folder (`migrations/<backend>/`), applied at
//! start by [`Store::migrate`]. Aggregates (clients, users, keys, grants, sessions) each have a
//! module with the queries that touch their tables.

mod audit;
mod backend;
mod client_rules;
mod clients;
mod cluster_state;
mod dynamic;
mod error;
mod grants;
mod group_commit;
mod groups;
mod issued;
mod keys;
mod leases;
mod link;
mod link_codec;
mod link_tx;
mod migrate;
mod passkeys;
mod pushed;
mod scim_groups;
mod scim_users;
mod sealed;
mod second_factors;
mod sessions;
mod settings;
mod snapshot;
mod toki_keys;
mod transmit_states;
mod upstream_identities;
mod users;

pub use audit::{AuditEntry, AuditRecord};
pub use backend::{Backend, Store, redact_url};
pub use client_rules::ClientRuleRecord;
pub use clients::{ClientKeyRecord, ClientRecord};
pub use cluster_state::TokiSessionRow;
pub use dynamic::{ColumnKind, DynStatement, DynValue, ForeignKey, UnitCause, UnitFailed};
pub use error::StoreError;
pub use grants::{
    AuthorizationCodeRecord, AuthorizationRequestRecord, RefreshGrantRows, RefreshTokenRecord,
    TokenFamilyRecord,
};
pub use groups::{GrantHolder, GroupRecord};
pub use issued::Issued;
pub use keys::{KeyState, SigningKeyRecord};
pub use link::{
    LinkConflictRow, LinkHashEntry, LinkHashRow, LinkPartnerRecord, LinkRecordRow, LinkStatsRow,
};
pub use link_codec::uuid_string;
pub use link_tx::LinkTx;
pub use passkeys::{PasskeyInsert, PasskeyRecord};
pub use scim_groups::{ScimGroupRow, ScimGroupWrite, ScimMember};
pub use scim_users::{ScimPage, ScimUserRow, ScimUserWrite, ScimWhere};
pub use sealed::{SealedPlace, SealedValue};
pub use second_factors::TotpRecord;
pub use sessions::{LoginSessionRecord, SessionClient};
pub use snapshot::sqlite_file_of;
pub use toki_keys::TokiKeyRecord;
pub use transmit_states::TransmitStateRecord;
pub use upstream_identities::UpstreamIdentityRecord;
pub use users::{UserProfile, UserRecord};

/// The deny-list entry (`revoked_access_tokens.jti`) that revokes every access token of a
/// token family: tokens minted in a family have the `jti` `FAMILY.random`.
pub fn family_marker(family_id: &str) -> String {
    format!("family:{family_id}")
}
