//! Login types: how a person may sign in for a client — `password` (the hub's own users) or
//! an upstream provider by name. A client's policy may restrict them (`--login-types`).

use crate::{AuthService, Client, OAuthError};

/// The hub's own username-and-password sign-in.
pub const PASSWORD: &str = "password";

/// One way to sign in, as the login page offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginMethod {
    /// `password` or the upstream's name (the value of `type`).
    pub name: String,
    pub display_name: String,
}

impl LoginMethod {
    pub fn is_password(&self) -> bool {
        self.name == PASSWORD
    }
}

impl AuthService {
    /// The upstream provider called `name`, if configured.
    pub fn upstream(&self, name: &str) -> Option<&super::UpstreamProvider> {
        self.upstreams.iter().find(|p| p.name == name)
    }

    /// The configured upstream providers.
    pub fn upstreams(&self) -> &[super::UpstreamProvider] {
        &self.upstreams
    }

    fn configured(&self, name: &str) -> bool {
        name == PASSWORD || self.upstream(name).is_some()
    }

    /// The methods `client` may use here (password first), narrowed to `asked` when the
    /// request named a login type.
    pub(crate) fn login_methods(&self, client: &Client, asked: Option<&str>) -> Vec<LoginMethod> {
        let mut methods = vec![LoginMethod {
            name: PASSWORD.into(),
            display_name: "Password".into(),
        }];
        methods.extend(self.upstreams.iter().map(|p| LoginMethod {
            name: p.name.clone(),
            display_name: p.display_name.clone(),
        }));
        methods.retain(|m| {
            client.policy.allows_login_type(&m.name) && asked.is_none_or(|a| a == m.name)
        });
        methods
    }

    /// A `type` from an authorization request: configured here and allowed for the client.
    pub(crate) fn check_login_type(&self, client: &Client, name: &str) -> Result<(), OAuthError> {
        if !super::valid_login_type_name(name) {
            return Err(OAuthError::invalid_request(
                "type is not a login type name ([a-z0-9_-]{1,32})",
            ));
        }
        if !self.configured(name) {
            return Err(OAuthError::invalid_request(format!(
                "login type {name:?} is not configured on this hub"
            )));
        }
        if !client.policy.allows_login_type(name) {
            return Err(OAuthError::invalid_request(format!(
                "login type {name:?} is not allowed for this client"
            )));
        }
        Ok(())
    }

    /// Whether a login session made with `method` may answer a request of `client` that asked
    /// for `asked`. Sessions from before login methods were recorded were password sign-ins.
    pub(crate) fn session_fits(
        &self,
        client: &Client,
        method: Option<&str>,
        asked: Option<&str>,
    ) -> bool {
        let full = method.unwrap_or(PASSWORD);
        // A session without a second factor does not do for a client (or hub) that wants one.
        if self.requires_mfa(client) && !crate::second_factor::is_multi_factor(full) {
            return false;
        }
        let method = login_type_of(full);
        self.configured(method)
            && client.policy.allows_login_type(method)
            && asked.is_none_or(|a| a == method)
    }
}

/// The login type of a session's login method: a second factor after the password does not
/// change it (`password+otp` is `password`), and a passkey is a way into this hub's own
/// accounts, as the password is.
pub(crate) fn login_type_of(method: &str) -> &str {
    match method.split('+').next().unwrap_or(PASSWORD) {
        crate::PASSKEY => PASSWORD,
        other => other,
    }
}
