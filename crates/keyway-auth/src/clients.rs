//! OAuth clients: registration rules and the in-memory form used on the token path.

use serde::Serialize;

use keyway_store::ClientRecord;

use crate::client_urls::{
    is_loopback, validate_logout_uris, validate_redirect_uri, validate_service_url,
};
use crate::jose::{PublicJwk, VerifyingKey};
use crate::{AdminError, ScopeSet, SecretString};

/// How a client proves who it is at the token endpoint (RFC 7591 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A generated secret; `client_secret_post` is accepted too.
    ClientSecretBasic,
    /// A JWT signed with a key from the client's JWKS (RFC 7523).
    PrivateKeyJwt,
    /// A public client: no credentials, PKCE mandatory.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }

    fn parse(text: &str) -> Option<AuthMethod> {
        match text {
            "client_secret_basic" | "client_secret_post" => Some(AuthMethod::ClientSecretBasic),
            "private_key_jwt" => Some(AuthMethod::PrivateKeyJwt),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
    AuthorizationCode,
    RefreshToken,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
        }
    }

    pub fn parse(text: &str) -> Option<GrantType> {
        match text {
            "client_credentials" => Some(GrantType::ClientCredentials),
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            _ => None,
        }
    }
}

/// A client as the token path sees it.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub(crate) secret_hash: Option<String>,
    pub public: bool,
    pub auth_method: AuthMethod,
    pub grant_types: Vec<GrantType>,
    pub scopes: ScopeSet,
    pub redirect_uris: Vec<String>,
    pub(crate) jwks: Vec<VerifyingKey>,
    pub jwks_uri: Option<String>,
    pub policy: ClientPolicy,
    pub created_at: i64,
    /// The HMAC key of g2d1 signatures and HS256 request objects (opened from its seal).
    pub(crate) signing_secret: Option<crate::SecretString>,
}

/// Per-client policy switches, stored as JSON so that a new switch needs no migration.
/// Members a hub does not know are ignored when read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ClientPolicy {
    /// Authorization requests must be pushed first (RFC 9126 §6,
    /// `require_pushed_authorization_requests`).
    pub require_pushed_requests: bool,
    /// Authorization requests must be signed request objects (RFC 9101,
    /// `require_signed_request_object`).
    pub require_signed_requests: bool,
    /// Its access tokens must be DPoP-bound (RFC 9449 `dpop_bound_access_tokens`).
    pub require_dpop: bool,
    /// A protocol profile beyond standard OAuth (`g2d1`: signed requests and redirects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ClientProfile>,
    /// How its users may sign in (`password`, upstream names); empty: every configured way.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub login_types: Vec<String>,
    /// Its users must sign in with a second factor (a password and a TOTP code).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_mfa: bool,
    /// Where the end-session endpoint may send the browser after logout (OpenID Connect
    /// RP-Initiated Logout 1.0 `post_logout_redirect_uris`), compared exactly.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where logout tokens are POSTed when a session it signed in through ends (OpenID
    /// Connect Back-Channel Logout 1.0 `backchannel_logout_uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Where users handed over by another client arrive (`POST /oauth2/transmit`): the
    /// signed redirect with a code goes here, and the code is redeemed with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transmit_url: Option<String>,
    /// The base URL of its API, which the gateway forwards `/gateway/{client}/…` calls to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

/// Protocol profiles a client can be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientProfile {
    /// docs/oauth.md, "The g2d1 profile".
    G2d1,
}

impl ClientProfile {
    pub fn parse(text: &str) -> Option<ClientProfile> {
        (text == "g2d1").then_some(ClientProfile::G2d1)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClientProfile::G2d1 => "g2d1",
        }
    }
}

impl ClientPolicy {
    /// Whether the client lets its users sign in with login type `name`.
    pub fn allows_login_type(&self, name: &str) -> bool {
        self.login_types.is_empty() || self.login_types.iter().any(|t| t == name)
    }
}

/// What `keyway client show` prints (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub token_endpoint_auth_method: &'static str,
    pub grant_types: Vec<&'static str>,
    pub scope: String,
    pub redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub jwks_keys: usize,
    /// RFC 9126 client metadata.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9101 client metadata.
    pub require_signed_request_object: bool,
    /// RFC 9449 client metadata.
    pub dpop_bound_access_tokens: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'static str>,
    /// Whether it has a signing secret (g2d1 signatures, HS256 request objects); never the
    /// secret itself.
    pub has_signing_secret: bool,
    /// How its users may sign in (empty: every way this hub offers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub login_types: Vec<String>,
    /// Its users must sign in with a second factor.
    pub require_mfa: bool,
    /// OpenID Connect RP-Initiated Logout 1.0 client metadata.
    pub post_logout_redirect_uris: Vec<String>,
    /// OpenID Connect Back-Channel Logout 1.0 client metadata (`null`: none).
    pub backchannel_logout_uri: Option<String>,
    /// Where users handed over by other clients arrive (`null`: none).
    pub transmit_url: Option<String>,
    /// The base URL the gateway forwards calls to (`null`: none).
    pub api_url: Option<String>,
    pub created_at: i64,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    pub fn info(&self) -> ClientInfo {
        ClientInfo {
            client_id: self.client_id.clone(),
            name: self.name.clone(),
            public: self.public,
            token_endpoint_auth_method: self.auth_method.as_str(),
            grant_types: self.grant_types.iter().map(|g| g.as_str()).collect(),
            scope: self.scopes.to_string(),
            redirect_uris: self.redirect_uris.clone(),
            jwks_uri: self.jwks_uri.clone(),
            jwks_keys: self.jwks.len(),
            require_pushed_authorization_requests: self.policy.require_pushed_requests,
            require_signed_request_object: self.policy.require_signed_requests,
            dpop_bound_access_tokens: self.policy.require_dpop,
            profile: self.policy.profile.map(ClientProfile::as_str),
            has_signing_secret: self.signing_secret.is_some(),
            login_types: self.policy.login_types.clone(),
            require_mfa: self.policy.require_mfa,
            post_logout_redirect_uris: self.policy.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: self.policy.backchannel_logout_uri.clone(),
            transmit_url: self.policy.transmit_url.clone(),
            api_url: self.policy.api_url.clone(),
            created_at: self.created_at,
        }
    }

    /// Reads a stored client; a row that no longer parses is reported, not half-used.
    pub fn from_record(record: ClientRecord) -> Result<Client, AdminError> {
        let corrupt = |what: &str| AdminError::Invalid(format!("stored client {what}"));
        let grant_types = record
            .grant_types
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant type")))
            .collect::<Result<Vec<_>, _>>()?;
        let redirect_uris: Vec<String> =
            serde_json::from_str(&record.redirect_uris).map_err(|_| corrupt("redirect URIs"))?;
        let jwks = match &record.jwks {
            Some(text) => parse_jwks(text)?,
            None => Vec::new(),
        };
        Ok(Client {
            client_id: record.client_id,
            name: record.name,
            secret_hash: record.secret_hash,
            public: record.public_client,
            auth_method: AuthMethod::parse(&record.auth_method)
                .ok_or_else(|| corrupt("auth method"))?,
            grant_types,
            scopes: ScopeSet::parse(&record.scope).map_err(|_| corrupt("scope"))?,
            redirect_uris,
            jwks,
            jwks_uri: record.jwks_uri,
            policy: serde_json::from_str(&record.policy).map_err(|_| corrupt("policy"))?,
            created_at: record.created_at,
            // Opened by AuthService::client_from_record, which holds the master key.
            signing_secret: None,
        })
    }
}

/// Private-key members of a JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 9] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];

/// Parses a JWK Set (RFC 7517 §5) into verifiers; every key must be usable and public. A set
/// holding a private key is refused rather than stored: the hub must never keep a client's
/// secret, and a client that published one should know at once.
pub(crate) fn parse_jwks(text: &str) -> Result<Vec<VerifyingKey>, AdminError> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Map<String, serde_json::Value>>,
    }
    let set: Set = serde_json::from_str(text).map_err(|e| {
        AdminError::Invalid(format!(
            "JWKS is not a JWK Set (JSON {{\"keys\": [...]}}): {e}"
        ))
    })?;
    if set.keys.is_empty() {
        return Err(AdminError::Invalid("JWKS has no keys".into()));
    }
    set.keys
        .into_iter()
        .enumerate()
        .map(|(i, members)| {
            let name = match members.get("kid").and_then(|k| k.as_str()) {
                Some(kid) => format!("JWKS key {} (kid {kid:?})", i + 1),
                None => format!("JWKS key {}", i + 1),
            };
            if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| members.contains_key(**m)) {
                return Err(AdminError::Invalid(format!(
                    "{name} holds private key material (\"{private}\"): register the public \
                     key only, and keep the private one with the client"
                )));
            }
            let jwk: PublicJwk = serde_json::from_value(serde_json::Value::Object(members))
                .map_err(|e| AdminError::Invalid(format!("{name}: {e}")))?;
            VerifyingKey::from_jwk(&jwk).map_err(|e| AdminError::Invalid(format!("{name}: {e}")))
        })
        .collect()
}

/// A registration request from `keyway client create`.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub grant_types: Vec<String>,
    pub scope: String,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    /// A JWK Set (JSON text) for `private_key_jwt`.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub policy: ClientPolicy,
    /// The signing secret (≥ 32 bytes); with `profile: g2d1` and none given, one is made.
    pub signing_secret: Option<crate::SecretString>,
}

/// Changes to a registered client: `None` keeps a property as it is. Its id, secret and how it
/// authenticates never change (register a new client for that).
#[derive(Debug, Default, Clone)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    /// A new JWK Set (JSON text); replaces a JWKS URI.
    pub jwks: Option<String>,
    /// A new JWKS URI; replaces a stored JWK Set.
    pub jwks_uri: Option<String>,
    /// Whether its authorization requests must be pushed (RFC 9126).
    pub require_pushed_requests: Option<bool>,
    /// Whether its authorization requests must be signed request objects (RFC 9101).
    pub require_signed_requests: Option<bool>,
    /// Whether its access tokens must be DPoP-bound (RFC 9449).
    pub require_dpop: Option<bool>,
    /// A new signing secret (≥ 32 bytes), replacing the old one at once.
    pub signing_secret: Option<crate::SecretString>,
    /// The login types its users may use (empty: all).
    pub login_types: Option<Vec<String>>,
    /// Whether its users must sign in with a second factor.
    pub require_mfa: Option<bool>,
    /// Replaces the post-logout redirect URIs (empty: none).
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Replaces the back-channel logout URI (`Some(None)`: removes it).
    pub backchannel_logout_uri: Option<Option<String>>,
    /// Replaces the transmit URL (`Some(None)`: removes it).
    pub transmit_url: Option<Option<String>>,
    /// Replaces the API URL (`Some(None)`: removes it).
    pub api_url: Option<Option<String>>,
}

/// The result of registration: the client and, once, its secrets.
#[derive(Debug)]
pub struct RegisteredClient {
    pub client: Client,
    pub client_secret: Option<SecretString>,
    /// A signing secret the hub made (g2d1 clients registered without one).
    pub signing_secret: Option<SecretString>,
}

/// Shortest signing secret accepted: HMAC-SHA256 keys are as strong as 32 bytes of entropy.
pub const MIN_SIGNING_SECRET_LEN: usize = 32;
/// Longest signing secret accepted.
const MAX_SIGNING_SECRET_LEN: usize = 256;

/// Checks a signing secret given by an operator.
pub(crate) fn check_signing_secret(secret: &SecretString) -> Result<(), AdminError> {
    let len = secret.expose().len();
    if !(MIN_SIGNING_SECRET_LEN..=MAX_SIGNING_SECRET_LEN).contains(&len) {
        return Err(AdminError::Invalid(format!(
            "the signing secret has {len} bytes; it must have {MIN_SIGNING_SECRET_LEN} to \
             {MAX_SIGNING_SECRET_LEN}"
        )));
    }
    if secret.expose().chars().any(char::is_control) {
        return Err(AdminError::Invalid(
            "the signing secret holds control characters (a line break?): it is used as text"
                .into(),
        ));
    }
    Ok(())
}

impl NewClient {
    /// Checks the request against the registration rules and returns the method it implies.
    pub(crate) fn validate(&self) -> Result<(Vec<GrantType>, AuthMethod), AdminError> {
        let invalid = |m: String| Err(AdminError::Invalid(m));
        // Names are printed on terminals (`keyway client list`) and pages: no control
        // characters, so no escape sequence can rewrite what an operator sees.
        if self.name.trim().is_empty()
            || self.name.len() > 200
            || self.name.chars().any(char::is_control)
        {
            return invalid(
                "client name must be 1–200 characters without control characters".into(),
            );
        }
        // Where a client is named, an id is tried first: a name shaped like one would read as
        // another client's id in `client rules` and in the audit log.
        let name = self.name.trim();
        if name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return invalid(format!(
                "client name {:?} looks like a client_id (32 hex digits): give a name people \
                 recognise",
                self.name
            ));
        }
        // Names only: whether an upstream is configured is the serving hub's business (a
        // client may name one before keyway.toml does; it is simply not offered until then).
        for (i, name) in self.policy.login_types.iter().enumerate() {
            if !crate::valid_login_type_name(name) {
                return invalid(format!(
                    "login type {name:?}: use password or an upstream's name ([a-z0-9_-]{{1,32}})"
                ));
            }
            if self.policy.login_types[..i].contains(name) {
                return invalid(format!("login type {name:?} is listed twice"));
            }
        }
        let mut grants = Vec::new();
        for g in self.grant_types.iter().flat_map(|g| g.split([',', ' '])) {
            if g.is_empty() {
                continue;
            }
            match GrantType::parse(g) {
                Some(grant) if !grants.contains(&grant) => grants.push(grant),
                Some(_) => {}
                None => {
                    return invalid(format!(
                        "unsupported grant {g:?}: use client_credentials, authorization_code or \
                         refresh_token (implicit and password grants are not offered)"
                    ));
                }
            }
        }
        if grants.is_empty() {
            return invalid("at least one --grant is required".into());
        }
        ScopeSet::parse(&self.scope).map_err(|e| AdminError::Invalid(e.description))?;
        if self.jwks.is_some() && self.jwks_uri.is_some() {
            return invalid("give either a JWKS file or a JWKS URI, not both".into());
        }
        let method = if self.public {
            if self.jwks.is_some() || self.jwks_uri.is_some() {
                return invalid("a public client has no keys".into());
            }
            if grants.contains(&GrantType::ClientCredentials) {
                return invalid("a public client cannot use client_credentials".into());
            }
            AuthMethod::None
        } else if self.jwks.is_some() || self.jwks_uri.is_some() {
            AuthMethod::PrivateKeyJwt
        } else {
            AuthMethod::ClientSecretBasic
        };
        if let Some(jwks) = &self.jwks {
            parse_jwks(jwks)?;
        }
        if let Some(uri) = &self.jwks_uri {
            let parsed =
                url::Url::parse(uri).map_err(|e| AdminError::Invalid(format!("JWKS URI: {e}")))?;
            if parsed.scheme() != "https" && !is_loopback(&parsed) {
                return invalid("JWKS URI must be https (http only for loopback)".into());
            }
        }
        if grants.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return invalid("authorization_code needs at least one --redirect-uri".into());
        }
        if grants.contains(&GrantType::RefreshToken)
            && !grants.contains(&GrantType::AuthorizationCode)
        {
            return invalid("refresh_token is only issued with authorization_code".into());
        }
        for uri in &self.redirect_uris {
            validate_redirect_uri(uri)?;
        }
        validate_logout_uris(&self.policy)?;
        if let Some(uri) = &self.policy.transmit_url {
            if self.public {
                return invalid(
                    "a public client cannot receive transmitted users: it could not redeem \
                     the code with credentials (register it as confidential)"
                        .into(),
                );
            }
            validate_service_url("transmit URL", uri)?;
            validate_redirect_uri(uri).map_err(|e| match e {
                AdminError::Invalid(why) => AdminError::Invalid(format!("transmit URL: {why}")),
                other => other,
            })?;
        }
        if let Some(uri) = &self.policy.api_url {
            let parsed = validate_service_url("API URL", uri)?;
            if parsed.query().is_some() {
                return invalid(format!(
                    "API URL {uri:?} must not have a query: the gateway appends the caller's"
                ));
            }
        }
        Ok((grants, method))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_client(grants: &[&str]) -> NewClient {
        NewClient {
            name: "svc".into(),
            grant_types: grants.iter().map(|g| g.to_string()).collect(),
            scope: "read".into(),
            ..NewClient::default()
        }
    }

    #[test]
    fn refuses_implicit_and_password() {
        assert!(new_client(&["implicit"]).validate().is_err());
        assert!(new_client(&["password"]).validate().is_err());
    }

    #[test]
    fn code_grant_needs_redirect_uri() {
        assert!(new_client(&["authorization_code"]).validate().is_err());
        let mut c = new_client(&["authorization_code", "refresh_token"]);
        c.redirect_uris = vec!["https://app.example/cb".into()];
        assert!(c.validate().is_ok());
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(validate_redirect_uri("http://127.0.0.1:9000/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/cb").is_ok());
        assert!(validate_redirect_uri("http://example.com/cb").is_err());
        assert!(validate_redirect_uri("https://example.com/cb#x").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
        assert!(validate_redirect_uri("https://example.com/cb?x=1&tab=a").is_ok());
        for own in [
            "code=EVIL",
            "state=x",
            "iss=x",
            "signature=00",
            "x=1&error=x",
        ] {
            let uri = format!("https://example.com/cb?{own}");
            assert!(validate_redirect_uri(&uri).is_err(), "{uri}");
        }
    }

    /// Post-logout URIs follow the redirect URI rules; the back-channel URI is https (http
    /// only on loopback) without a fragment; each message names the URI and the rule.
    #[test]
    fn logout_uri_rules() {
        let with = |post: &[&str], back: Option<&str>| {
            let mut c = new_client(&["client_credentials"]);
            c.policy.post_logout_redirect_uris = post.iter().map(|u| u.to_string()).collect();
            c.policy.backchannel_logout_uri = back.map(str::to_string);
            c.validate().map(|_| ()).map_err(|e| e.to_string())
        };
        assert!(with(&["https://app.example/bye", "http://127.0.0.1:9/bye"], None).is_ok());
        assert!(with(&[], Some("https://app.example/logout")).is_ok());
        assert!(with(&[], Some("http://localhost:8080/logout")).is_ok());
        let refused = [
            (
                with(&["http://app.example/bye"], None),
                "post-logout redirect URI",
            ),
            (with(&["https://app.example/bye#x"], None), "fragment"),
            (with(&["https://app.example/bye?state=1"], None), "state"),
            (
                with(&[], Some("http://app.example/logout")),
                "must be https",
            ),
            (with(&[], Some("https://app.example/logout#f")), "fragment"),
            (with(&[], Some("not a url")), "back-channel logout URI"),
            (
                with(&[], Some("https://user:pw@app.example/l")),
                "user name or password",
            ),
        ];
        for (result, cause) in refused {
            let message = result.expect_err(cause);
            assert!(message.contains(cause), "{message}");
        }
        let many: Vec<String> = (0..21)
            .map(|i| format!("https://app.example/{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(with(&many, None).unwrap_err().contains("at most 20"));
    }

    /// Transmit and API URLs are https (http on loopback), without fragment or credentials;
    /// a transmit URL follows the redirect URI rules, an API URL has no query, and a public
    /// client cannot receive transmitted users.
    #[test]
    fn transmit_and_api_url_rules() {
        let with = |transmit: Option<&str>, api: Option<&str>, public: bool| {
            let mut c = new_client(&["authorization_code"]);
            c.redirect_uris = vec!["https://b.example/cb".into()];
            c.public = public;
            c.policy.transmit_url = transmit.map(str::to_string);
            c.policy.api_url = api.map(str::to_string);
            c.validate().map(|_| ()).map_err(|e| e.to_string())
        };
        assert!(
            with(
                Some("https://b.example/from-a"),
                Some("https://b.example/api"),
                false
            )
            .is_ok()
        );
        assert!(
            with(
                Some("http://127.0.0.1:9/t"),
                Some("http://localhost:9/api/"),
                false
            )
            .is_ok()
        );
        let refused = [
            (
                with(Some("http://b.example/t"), None, false),
                "must be https",
            ),
            (with(Some("https://b.example/t#f"), None, false), "fragment"),
            (
                with(Some("https://b.example/t?code=1"), None, false),
                "code",
            ),
            (
                with(Some("https://b.example/t"), None, true),
                "public client",
            ),
            (
                with(None, Some("ftp://b.example/api"), false),
                "must be https",
            ),
            (
                with(None, Some("https://u:p@b.example/api"), false),
                "user name",
            ),
            (
                with(None, Some("https://b.example/api?k=1"), false),
                "query",
            ),
            (with(None, Some("api"), false), "absolute"),
        ];
        for (result, cause) in refused {
            let message = result.expect_err(cause);
            assert!(message.contains(cause), "{message}");
        }
    }

    #[test]
    fn public_clients_cannot_use_client_credentials() {
        let mut c = new_client(&["client_credentials"]);
        c.public = true;
        assert!(c.validate().is_err());
    }
}

#[cfg(test)]
mod jwks_tests {
    use super::parse_jwks;

    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn a_set_with_a_private_key_is_refused_naming_the_key() {
        let set = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{X}","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}}]}}"#
        );
        let err = parse_jwks(&set).unwrap_err().to_string();
        assert!(
            err.contains("kid \"k1\"") && err.contains("private"),
            "{err}"
        );
        let public =
            format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{X}"}}]}}"#);
        assert_eq!(parse_jwks(&public).unwrap().len(), 1);
    }

    #[test]
    fn errors_name_the_key_and_the_expected_format() {
        let err = parse_jwks("-----BEGIN PUBLIC KEY-----")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"keys\""), "{err}");
        let bad = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k9","x":"!"}]}"#;
        let err = parse_jwks(bad).unwrap_err().to_string();
        assert!(err.contains("kid \"k9\""), "{err}");
    }
}
