//! SCIM errors (RFC 7644 §3.12): an HTTP status and, for 400s (and 409/412), a `scimType`.

use keyway_store::StoreError;

use crate::AdminError;

/// The `scimType` of an error (RFC 7644 §3.12, table 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }
}

/// Why a SCIM request failed; the hub turns it into the SCIM error JSON.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// 400 with a `scimType`.
    #[error("{detail}")]
    BadRequest { scim_type: ScimType, detail: String },
    #[error("{0}")]
    NotFound(String),
    /// 409 `uniqueness`.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` named another version.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 403: an operation keyway refuses whoever asks (the built-in admins group).
    #[error("{0}")]
    Forbidden(String),
    /// The store failed; the cause is logged by the hub, not sent.
    #[error("the database did not answer: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl ScimError {
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> ScimError {
        ScimError::BadRequest {
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ScimError::BadRequest { .. } => 400,
            ScimError::Forbidden(_) => 403,
            ScimError::NotFound(_) => 404,
            ScimError::Conflict(_) => 409,
            ScimError::PreconditionFailed(_) => 412,
            ScimError::Store(_) => 503,
            ScimError::Internal(_) => 500,
        }
    }

    pub fn scim_type(&self) -> Option<ScimType> {
        match self {
            ScimError::BadRequest { scim_type, .. } => Some(*scim_type),
            ScimError::Conflict(_) => Some(ScimType::Uniqueness),
            _ => None,
        }
    }
}

impl From<AdminError> for ScimError {
    fn from(err: AdminError) -> ScimError {
        match err {
            AdminError::Invalid(detail) => ScimError::bad(ScimType::InvalidValue, detail),
            AdminError::NotFound(detail) => ScimError::NotFound(detail),
            AdminError::Conflict(detail) => ScimError::Conflict(detail),
            AdminError::Store(e) => ScimError::Store(e),
            other => ScimError::Internal(other.to_string()),
        }
    }
}
