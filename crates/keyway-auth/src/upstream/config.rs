//! One configured upstream provider and the rules its settings must meet.

use crate::SecretString;

/// What happens the first time an identity signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    /// A local user is created (username from the configured claim, made unique).
    Auto,
    /// Only identities an admin linked (`keyway user link`) may sign in.
    LinkOnly,
}

impl Provision {
    pub fn parse(text: &str) -> Option<Provision> {
        match text {
            "auto" => Some(Provision::Auto),
            "link-only" => Some(Provision::LinkOnly),
            _ => None,
        }
    }
}

/// An upstream OpenID Connect provider people may sign in through.
#[derive(Debug, Clone)]
pub struct UpstreamProvider {
    /// The login type's name (`type=<name>`), `[a-z0-9_-]{1,32}`, never `password`.
    pub name: String,
    /// What the login page's button says.
    pub display_name: String,
    /// The provider's issuer identifier; its metadata is at `/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Space-separated, must include `openid`.
    pub scopes: String,
    /// The ID-token claim a provisioned user's name comes from (`sub` when absent).
    pub username_claim: String,
    pub provision: Provision,
}

/// A login type's name: `[a-z0-9_-]{1,32}` (it appears in URLs, forms and the `idp` claim).
pub fn valid_login_type_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An issuer or endpoint URL: https, or http on a loopback host (tests, a hub beside another).
pub(crate) fn check_url(value: &str, what: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(value).map_err(|e| format!("{what} {value:?}: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{what} {value:?}: http is allowed only for loopback hosts (127.0.0.1, ::1, \
                 localhost); use https"
            ));
        }
        other => return Err(format!("{what} {value:?}: scheme {other} is not https")),
    }
    if parsed.fragment().is_some() || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{what} {value:?}: no fragment or credentials allowed"
        ));
    }
    Ok(parsed)
}

impl UpstreamProvider {
    /// Checks the settings; the message names the setting (the caller adds the file and entry).
    pub fn validate(&self) -> Result<(), String> {
        if !valid_login_type_name(&self.name) {
            return Err(format!(
                "name {:?} must match [a-z0-9_-]{{1,32}}",
                self.name
            ));
        }
        if self.name == super::PASSWORD {
            return Err("name \"password\" is the hub's own sign-in; pick another name".into());
        }
        if self.display_name.trim().is_empty() || self.display_name.len() > 64 {
            return Err("display_name must be 1–64 bytes".into());
        }
        let issuer = check_url(&self.issuer, "issuer")?;
        if issuer.query().is_some() {
            return Err("issuer must not have a query (OpenID Connect Discovery §2)".into());
        }
        if self.client_id.is_empty() || self.client_id.len() > 255 {
            return Err("client_id must be 1–255 bytes".into());
        }
        if self.client_secret.expose().is_empty() {
            return Err("the client secret file is empty".into());
        }
        if !self.scopes.split(' ').any(|s| s == "openid") || self.scopes.len() > 512 {
            return Err("scopes must include openid (and be at most 512 bytes)".into());
        }
        if self.username_claim.is_empty() || self.username_claim.len() > 64 {
            return Err("username_claim must be 1–64 bytes".into());
        }
        Ok(())
    }

    /// The issuer without a trailing `/`, to build the discovery URL from.
    pub(crate) fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn provider() -> UpstreamProvider {
        UpstreamProvider {
            name: "corp".into(),
            display_name: "Corp SSO".into(),
            issuer: "https://idp.example.com".into(),
            client_id: "keyway".into(),
            client_secret: SecretString::new("s3cret".into()),
            scopes: "openid profile".into(),
            username_claim: "preferred_username".into(),
            provision: Provision::Auto,
        }
    }

    #[test]
    fn names_and_issuers() {
        assert_eq!(provider().validate(), Ok(()));
        for bad in ["", "Corp", "a b", &"x".repeat(33), "password"] {
            let p = UpstreamProvider {
                name: bad.into(),
                ..provider()
            };
            assert!(p.validate().is_err(), "{bad:?}");
        }
        let http = UpstreamProvider {
            issuer: "http://idp.example.com".into(),
            ..provider()
        };
        assert!(http.validate().unwrap_err().contains("loopback"));
        for ok in [
            "http://127.0.0.1:8080",
            "http://[::1]:9",
            "http://localhost",
        ] {
            let p = UpstreamProvider {
                issuer: ok.into(),
                ..provider()
            };
            assert_eq!(p.validate(), Ok(()), "{ok}");
        }
        let no_openid = UpstreamProvider {
            scopes: "profile".into(),
            ..provider()
        };
        assert!(no_openid.validate().is_err());
    }
}
