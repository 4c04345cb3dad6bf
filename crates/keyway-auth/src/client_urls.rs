//! The rules of the URLs a client registers: redirect URIs, logout URIs, the transmit URL
//! and the API URL (RFC 6749 §3.1.2, RFC 8252, OIDC RP-Initiated and Back-Channel Logout).

use crate::{AdminError, ClientPolicy};

pub(crate) fn is_loopback(url: &url::Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// Query parameters of an authorization response (RFC 6749, RFC 9207, JARM, the g2d1
/// profile): a redirect URI may not bring its own.
const RESPONSE_PARAMETERS: [&str; 12] = [
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
    "response",
    "signature",
    "signature_names",
    "timestamp",
    "nonce",
    "type",
];

/// Most post-logout redirect URIs a client may register.
const MAX_POST_LOGOUT_URIS: usize = 20;
/// Longest logout URI accepted.
const MAX_LOGOUT_URI_LEN: usize = 2000;

/// Post-logout redirect URIs follow the redirect URI rules (OIDC RP-Initiated Logout §3);
/// the back-channel URI is https (http only on loopback) without a fragment (Back-Channel
/// Logout §2.2).
pub(crate) fn validate_logout_uris(policy: &ClientPolicy) -> Result<(), AdminError> {
    let invalid = |m: String| Err(AdminError::Invalid(m));
    if policy.post_logout_redirect_uris.len() > MAX_POST_LOGOUT_URIS {
        return invalid(format!(
            "at most {MAX_POST_LOGOUT_URIS} post-logout redirect URIs (got {})",
            policy.post_logout_redirect_uris.len()
        ));
    }
    for uri in &policy.post_logout_redirect_uris {
        if uri.len() > MAX_LOGOUT_URI_LEN {
            return invalid(format!(
                "post-logout redirect URI longer than {MAX_LOGOUT_URI_LEN} characters"
            ));
        }
        validate_redirect_uri(uri).map_err(|e| match e {
            AdminError::Invalid(why) => AdminError::Invalid(format!("post-logout {why}")),
            other => other,
        })?;
    }
    if let Some(uri) = &policy.backchannel_logout_uri {
        if uri.len() > MAX_LOGOUT_URI_LEN {
            return invalid(format!(
                "back-channel logout URI longer than {MAX_LOGOUT_URI_LEN} characters"
            ));
        }
        let parsed = url::Url::parse(uri)
            .map_err(|e| AdminError::Invalid(format!("back-channel logout URI {uri:?}: {e}")))?;
        if parsed.fragment().is_some() {
            return invalid(format!(
                "back-channel logout URI {uri:?} must not have a fragment"
            ));
        }
        // Credentials in the URI would be stored, shown and logged in clear.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return invalid(format!(
                "back-channel logout URI {uri:?} must not hold a user name or password"
            ));
        }
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && is_loopback(&parsed)) {
            return invalid(format!(
                "back-channel logout URI {uri:?} must be https (http only on a loopback host)"
            ));
        }
    }
    Ok(())
}

/// A URL the hub sends browsers or requests to on a client's behalf: https (http only on a
/// loopback host), absolute, no fragment, no credentials, at most 2,000 characters.
pub(crate) fn validate_service_url(what: &str, uri: &str) -> Result<url::Url, AdminError> {
    let invalid = |why: String| Err(AdminError::Invalid(format!("{what} {uri:?} {why}")));
    if uri.len() > MAX_LOGOUT_URI_LEN {
        return invalid(format!("is longer than {MAX_LOGOUT_URI_LEN} characters"));
    }
    let parsed = match url::Url::parse(uri) {
        Ok(parsed) => parsed,
        Err(e) => return invalid(format!("is not an absolute URL: {e}")),
    };
    if parsed.fragment().is_some() {
        return invalid("must not have a fragment".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return invalid("must not hold a user name or password".into());
    }
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && is_loopback(&parsed)) {
        return invalid("must be https (http only on a loopback host)".into());
    }
    Ok(parsed)
}

/// Redirect URIs must be absolute without a fragment (RFC 6749 §3.1.2); plain http only on
/// loopback (RFC 8252 §7.3); private-use schemes (RFC 8252 §7.1) must contain a dot.
pub(crate) fn validate_redirect_uri(uri: &str) -> Result<(), AdminError> {
    let parsed = url::Url::parse(uri)
        .map_err(|e| AdminError::Invalid(format!("redirect URI {uri:?}: {e}")))?;
    if parsed.fragment().is_some() {
        return Err(AdminError::Invalid(format!(
            "redirect URI {uri:?} must not have a fragment"
        )));
    }
    // The hub adds these to the query: a registered one would be read instead of the hub's
    // by a client that takes the first value.
    if let Some((name, _)) = parsed
        .query_pairs()
        .find(|(name, _)| RESPONSE_PARAMETERS.contains(&name.as_ref()))
    {
        return Err(AdminError::Invalid(format!(
            "redirect URI {uri:?} has {name} in its query, a parameter the hub's answer sets"
        )));
    }
    let ok = match parsed.scheme() {
        "https" => true,
        "http" => is_loopback(&parsed),
        scheme => scheme.contains('.'),
    };
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "redirect URI {uri:?} must be https, http on a loopback host, or a private-use scheme"
        )))
    }
}
