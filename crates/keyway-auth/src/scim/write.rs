//! What every SCIM write shares: the `If-Match` check, the optimistic-lock retry loop, the
//! PATCH-then-parse step and the uniqueness error. Users and groups differ only in how a row
//! is read and written.

use std::future::Future;

use keyway_store::StoreError;
use serde_json::Value;

use super::attrs::Attr;
use super::error::ScimError;
use super::meta::{etag_matches, version_of};
use super::patch::apply_patch;

/// How often a write without `If-Match` is tried again after another writer changed the
/// resource between its read and its write (each try reads afresh).
const ATTEMPTS: usize = 3;

/// A write that kept losing to other writers, or whose `If-Match` was overtaken.
fn changed_meanwhile(what: &str) -> ScimError {
    ScimError::PreconditionFailed(format!(
        "the {what} changed while this request ran; read it again and retry"
    ))
}

/// `If-Match` against the current representation: 412 when it names another version.
pub(crate) fn check_if_match(current: &Value, if_match: Option<&str>) -> Result<(), ScimError> {
    match if_match {
        Some(header) if !etag_matches(header, version_of(current)) => {
            Err(ScimError::PreconditionFailed(format!(
                "the resource is at version {}, not {header}",
                version_of(current)
            )))
        }
        _ => Ok(()),
    }
}

/// A store conflict as SCIM's `uniqueness` error naming what is taken.
pub(crate) fn conflict(err: StoreError, what: &str) -> ScimError {
    match err {
        StoreError::Conflict(_) => ScimError::Conflict(format!("{what} is taken")),
        other => ScimError::Store(other),
    }
}

/// Runs `attempt` (read, check `If-Match`, write only if nobody wrote since the read; `None`
/// when somebody did) until it writes. Without `If-Match` a lost write is redone from a fresh
/// read, [`ATTEMPTS`] times at most; with it, the request fails with 412.
pub(crate) async fn until_written<F, Fut>(
    if_match: Option<&str>,
    what: &str,
    mut attempt: F,
) -> Result<Value, ScimError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Value>, ScimError>>,
{
    for _ in 0..ATTEMPTS {
        match attempt().await? {
            Some(written) => return Ok(written),
            None if if_match.is_none() => continue,
            None => break,
        }
    }
    Err(changed_meanwhile(what))
}

/// The representation `current` with a PatchOp `body` applied (then read as a PUT body is).
pub(crate) fn patched(
    current: Value,
    body: &Value,
    attrs: &'static [Attr],
    schema: &str,
) -> Result<Value, ScimError> {
    let Value::Object(mut resource) = current else {
        return Err(ScimError::Internal("a resource is not an object".into()));
    };
    apply_patch(&mut resource, body, attrs, schema)?;
    Ok(Value::Object(resource))
}
