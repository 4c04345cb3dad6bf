//! The token endpoint's grants (RFC 6749 §4): `client_credentials`, `authorization_code`
//! (with PKCE, RFC 7636) and `refresh_token` (rotated, RFC 9700 §4.14).

mod authorization_code;
mod client_credentials;
mod refresh;
mod token_exchange;

pub use token_exchange::{ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE};
pub(crate) use token_exchange::{Crossing, Trace, crossing_scope, invalid_target, not_a_target};

use serde::Serialize;

use crate::{AuthService, Client, ErrorCode, OAuthError};

/// A decoded `application/x-www-form-urlencoded` body. Parameters may not repeat (RFC 6749
/// §3.2), except `resource` (RFC 8707 §2).
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pairs: Vec<(String, String)>,
}

impl TokenRequest {
    pub fn new(pairs: Vec<(String, String)>) -> TokenRequest {
        TokenRequest { pairs }
    }

    /// The one value of `name`; empty values count as absent (RFC 6749 §3.1).
    pub fn single(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = self
            .pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {name} is repeated"
            )));
        }
        Ok(first)
    }

    /// Every (name, value) pair, in the order received.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.single(name)?
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is missing")))
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// g2d1 profile: the access token again, under the name g2d1 clients read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coder: Option<String>,
    /// g2d1 profile: the refresh token again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_coder_token: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// `Bearer`, or `DPoP` for a token bound to a key (RFC 9449 §5).
pub(crate) fn token_type(dpop: Option<&crate::DpopKey>) -> &'static str {
    if dpop.is_some() { "DPoP" } else { "Bearer" }
}

impl AuthService {
    /// Serves one token request from an authenticated client.
    pub async fn token(
        &self,
        client: &Client,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        self.token_bound(client, request, None).await
    }

    /// As [`AuthService::token`]; with `dpop` (a proof the hub checked), the access token is
    /// bound to that key (`cnf.jkt`, `token_type: DPoP`).
    pub async fn token_bound(
        &self,
        client: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
    ) -> Result<TokenResponse, OAuthError> {
        let grant = request.required("grant_type")?;
        if client.policy.require_dpop && dpop.is_none() {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "this client's access tokens must be DPoP-bound: send a DPoP proof (RFC 9449)",
            ));
        }
        match grant {
            "client_credentials" => self.client_credentials_grant(client, request, dpop).await,
            "authorization_code" => self.authorization_code_grant(client, request, dpop).await,
            "refresh_token" => self.refresh_token_grant(client, request, dpop).await,
            TOKEN_EXCHANGE => self.token_exchange_grant(client, request, dpop).await,
            other => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {other:?} is not supported"),
            )),
        }
    }
}

/// Checks RFC 8707 resource indicators: absolute URIs without a fragment.
pub(crate) fn parse_resources(values: &[&str]) -> Result<Vec<String>, OAuthError> {
    values
        .iter()
        .map(|value| match url::Url::parse(value) {
            Ok(url) if url.fragment().is_none() => Ok(value.to_string()),
            _ => Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                format!("resource {value:?} must be an absolute URI without a fragment"),
            )),
        })
        .collect()
}

/// Space-joined list helpers for the store's text columns.
pub(crate) fn join(list: &[String]) -> String {
    list.join(" ")
}

pub(crate) fn split(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_except_resource() {
        let req = TokenRequest::new(vec![
            ("scope".into(), "a".into()),
            ("scope".into(), "b".into()),
            ("resource".into(), "https://a.example".into()),
            ("resource".into(), "https://b.example".into()),
        ]);
        assert!(req.single("scope").is_err());
        assert_eq!(req.all("resource").len(), 2);
    }

    #[test]
    fn resources_must_be_absolute_without_fragment() {
        assert!(parse_resources(&["https://api.example/"]).is_ok());
        assert!(parse_resources(&["/relative"]).is_err());
        assert!(parse_resources(&["https://api.example/#f"]).is_err());
    }
}
