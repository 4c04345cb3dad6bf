use thiserror::Error;

use keyway_store::StoreError;

/// The error codes of RFC 6749 §5.2 and §4.1.2.1, RFC 8707, RFC 7009 and RFC 9101/9126.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidTarget,
    AccessDenied,
    UnsupportedResponseType,
    UnsupportedTokenType,
    LoginRequired,
    ConsentRequired,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 9101 §7 (used by RFC 9126): a `request_uri` that is unknown, expired or used.
    InvalidRequestUri,
    /// RFC 9101 §7: a request object that is unsigned, badly signed, expired or replayed.
    InvalidRequestObject,
    /// RFC 9449 §5: a DPoP proof that is missing a part, badly signed, stale or replayed.
    InvalidDpopProof,
    /// RFC 9449 §8, §9: the proof lacks the server's current nonce (sent in `DPoP-Nonce`).
    UseDpopNonce,
    /// RFC 6750 §3.1: an access token presented in a way it may not be used.
    InvalidToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::InvalidToken => "invalid_token",
        }
    }
}

/// An OAuth error as the protocol reports it: a code and a human description.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidClient, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidScope, description)
    }

    pub fn unauthorized_client(description: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::UnauthorizedClient, description)
    }

    /// An internal failure; the detail goes to the log, never to the client.
    pub fn server_error(detail: impl std::fmt::Display) -> OAuthError {
        tracing::error!(%detail, "internal error while serving an OAuth request");
        OAuthError::new(ErrorCode::ServerError, "internal error")
    }
}

impl From<StoreError> for OAuthError {
    fn from(err: StoreError) -> OAuthError {
        match err {
            StoreError::Database(_) => {
                tracing::error!(error = %err, "store unavailable");
                OAuthError::new(ErrorCode::TemporarilyUnavailable, "storage unavailable")
            }
            other => OAuthError::server_error(other),
        }
    }
}

/// Errors of the operator's admin actions (CLI).
#[derive(Debug, Error)]
pub enum AdminError {
    #[error("invalid value: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// Another process changed the same thing at the same moment; retrying is safe.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key file error: {0}")]
    KeyFile(#[from] std::io::Error),
    #[error(transparent)]
    PrivateFile(#[from] keyway_kernel::PrivateFileError),
    #[error("crypto error: {0}")]
    Crypto(String),
    /// The master key is missing, unreadable or not the store's.
    #[error("{0}")]
    MasterKey(String),
}

/// What a command says of a client id it does not know: the likeliest mistake is a client's
/// name where its id belongs.
pub(crate) fn no_such_client(client_id: &str) -> String {
    format!("client {client_id:?} (give a client_id, not a name: `keyway client list` shows them)")
}
