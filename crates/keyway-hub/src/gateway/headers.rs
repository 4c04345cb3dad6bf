//! Which headers cross the gateway. Going up: none that belong to one connection (RFC 9110
//! §7.6.1), none of the caller's credentials or session at the hub, and none that state who
//! or where the caller is (only the gateway's `Forwarded` does), in any spelling an upstream
//! may read as one of them. Coming back: none that belong to one connection, and none that
//! would bind the hub's own origin in the caller's browser.

use axum::http::{HeaderMap, HeaderName, header};

/// Headers dropped both ways. A `match` rather than a list: the compiler tells names apart by
/// length first, which a lookup per header and name did not (5% of a call).
fn always_dropped(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "expect"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "authorization"
            | "dpop"
            | "cookie"
            | "oscartoki"
    )
}

/// What only the gateway may tell an upstream: who and where the caller is, how it arrived,
/// who it signed in as at some proxy. Upstreams behind a proxy trust these.
fn stated_by_the_gateway(name: &str) -> bool {
    matches!(
        name,
        "forwarded"
            | "front-end-https"
            | "x-url-scheme"
            | "x-scheme"
            | "x-original-url"
            | "x-original-host"
            | "x-original-uri"
            | "x-rewrite-url"
            | "x-host"
            | "x-real-ip"
            | "true-client-ip"
            | "client-ip"
            | "x-client-ip"
            | "x-cluster-client-ip"
            | "fastly-client-ip"
            | "x-client-cert"
            | "x-user"
            | "x-username"
            | "x-user-id"
            | "x-user-email"
            | "x-email"
            | "x-authenticated-user"
            | "x-authenticated-userid"
            | "x-authenticated-scope"
            | "x-authenticated-groups"
            | "x-proxy-user"
            | "x-originating-ip"
            | "x-proxyuser-ip"
            | "x-credential-identifier"
            | "x-credential-username"
            | "x-endpoint-api-userinfo"
            | "x-goog-iap-jwt-assertion"
            | "x-jwt-assertion"
            | "x-jwt-payload"
            | "x-userinfo"
            | "x-id-token"
            | "x-access-token"
            // Not who, but what: a method override turns a refused or read-only call into
            // another (Next.js's internal headers are a family below).
            | "x-http-method-override"
            | "x-http-method"
            | "x-method-override"
    ) || of_an_identity_family(name)
}

/// Families of headers in which identity-aware proxies, API gateways and platforms tell an
/// upstream who or where the caller is, or what the platform already decided (AWS ALB and
/// API Gateway, Azure, Google IAP and App Engine, Cloudflare, Vercel, Netlify, Pomerium,
/// Kong, Envoy, oauth2-proxy, Authelia, authentik, Tailscale, Teleport, Vouch, Shibboleth,
/// WebSEAL, SiteMinder, Oracle Access Manager, mod_auth_openidc, Kubernetes impersonation
/// and request-header authentication, Hasura, Grafana, Loki/Mimir tenants, Next.js).
const X_IDENTITY_PREFIXES: &[&str] = &[
    "envoy-",
    "amzn-oidc-",
    "amzn-mtls-",
    "ms-client-principal",
    "ms-token-",
    "goog-authenticated-user-",
    "appengine-",
    "pomerium-",
    "consumer-",
    "anonymous-consumer",
    "auth-request-",
    "forwarded",
    "original-forwarded-",
    "remote-",
    "ssl-",
    "tls-client-",
    "mtls-",
    "client-verify",
    "client-dn",
    "client-s-dn",
    "client-i-dn",
    "client-certificate",
    "webauth-",
    "grafana-",
    "authentik-",
    "vouch-",
    "oam-",
    "apigateway-",
    "hasura-",
    "azure-",
    "vercel-",
    "nf-",
    "arr-",
    "invoke-",
    "middleware-",
    "now-",
    "matched-path",
    "http-host-override",
    "scope-orgid",
    "serverless-authorization",
];
/// The same, of names without `x-`.
const IDENTITY_PREFIXES: &[&str] = &[
    "cf-",
    "remote-",
    "ssl-client-",
    "client-cert",
    "tailscale-",
    "teleport-",
    "iv-",
    "sm-",
    "shib-",
    "oidc-claim-",
    "oidc-access-token",
    "impersonate-",
];

/// Whether `name` is of one of the families above (names are checked after the `x-`, so
/// that a header of neither kind is compared with a few prefixes only).
fn of_an_identity_family(name: &str) -> bool {
    match name.strip_prefix("x-") {
        Some(rest) => X_IDENTITY_PREFIXES
            .iter()
            .any(|prefix| rest.starts_with(prefix)),
        None => IDENTITY_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix)),
    }
}

/// The target's answer headers that would bind the hub's own origin in the caller's browser.
fn binds_the_hubs_origin(name: &str) -> bool {
    matches!(
        name,
        "set-cookie" | "strict-transport-security" | "clear-site-data" | "alt-svc"
    )
}

/// Strips a caller's request headers before they go upstream, in place. Names with `_` go
/// too, as nginx drops them by default: CGI-style servers read `X_Forwarded_For` as
/// `X-Forwarded-For`, around the names above.
pub(super) fn drop_from_request(headers: &mut HeaderMap) {
    drop_where(headers, |name| {
        name.contains('_') || always_dropped(name) || stated_by_the_gateway(name)
    });
}

/// Strips a target's answer headers before they go to the caller, in place.
pub(super) fn drop_from_answer(headers: &mut HeaderMap) {
    drop_where(headers, |name| {
        always_dropped(name) || binds_the_hubs_origin(name)
    });
}

/// Removes the headers `dropped` names and those `Connection` names, in one pass over the
/// headers present.
fn drop_where(headers: &mut HeaderMap, dropped: impl Fn(&str) -> bool) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            dropped(name) || named.iter().any(|n| n == name)
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn kept(from: &[(&'static str, &'static str)], strip: fn(&mut HeaderMap)) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for (name, value) in from {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        strip(&mut headers);
        let mut names: Vec<String> = headers.keys().map(|n| n.as_str().to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn hop_by_hop_credentials_identity_and_named_headers_stay_behind() {
        let request = [
            ("connection", "close, x-secret"),
            ("x-secret", "1"),
            ("authorization", "Bearer caller"),
            ("cookie", "keyway_session=1"),
            ("accept", "application/json"),
            ("transfer-encoding", "chunked"),
            ("x-forwarded-for", "6.6.6.6"),
            // Read as X-Forwarded-For / X-Real-IP by CGI-style servers.
            ("x_forwarded_for", "6.6.6.6"),
            ("x_real_ip", "6.6.6.6"),
            ("x-forwarded-ssl", "on"),
            ("remote-user", "admin"),
            ("x-envoy-original-path", "/admin"),
            ("x-webauth-user", "admin"),
            ("x-amzn-oidc-identity", "admin"),
            ("x-ms-client-principal-name", "admin"),
            ("cf-access-authenticated-user-email", "admin@example.com"),
            ("x-arr-clientcert", "MIIB"),
            ("x-http-method-override", "DELETE"),
            ("x-middleware-subrequest", "middleware"),
            ("client-cert", ":MIIB:"),
            ("remote-email", "admin@example.com"),
            ("x-remote-group", "system:masters"),
            ("impersonate-user", "admin"),
            ("x-authentik-username", "admin"),
            ("tailscale-user-login", "admin"),
            ("iv-user", "admin"),
            ("x-hasura-role", "admin"),
            ("x-scope-orgid", "tenant-a"),
            ("x-invoke-path", "/admin"),
            ("x-request-id", "kept"),
        ];
        assert_eq!(
            kept(&request, drop_from_request),
            ["accept", "x-request-id"]
        );
        let answer = [
            ("set-cookie", "keyway_session=2"),
            ("strict-transport-security", "max-age=1"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("content-type", "application/json"),
            ("x_custom", "an answer's own header"),
        ];
        assert_eq!(
            kept(&answer, drop_from_answer),
            ["content-type", "x_custom"]
        );
    }
}
