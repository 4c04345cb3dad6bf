//! Request parsing shared by the OAuth endpoints.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyway_auth::{ClientCredentials, OAuthError, TokenRequest};

/// Decodes an `application/x-www-form-urlencoded` body (RFC 6749 §3.2 requires that type).
/// The parameters of a query string (a GET endpoint's `RawQuery`), as a form's.
pub(crate) fn query_params(query: Option<String>) -> TokenRequest {
    TokenRequest::new(
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    )
}

pub(crate) fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(OAuthError::invalid_request("the body is not UTF-8"));
    }
    Ok(TokenRequest::new(
        url::form_urlencoded::parse(body).into_owned().collect(),
    ))
}

/// Collects the client credentials of a request: HTTP Basic (its parts form-decoded, RFC 6749
/// §2.3.1) and the body parameters.
pub(crate) fn client_credentials(
    headers: &HeaderMap,
    form: &TokenRequest,
) -> Result<ClientCredentials, OAuthError> {
    let basic = match headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(value) if value.len() > 6 && value[..6].eq_ignore_ascii_case("basic ") => {
            let decoded = STANDARD
                .decode(value[6..].trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
            Some((form_decode(id), form_decode(secret)))
        }
        _ => None,
    };
    Ok(ClientCredentials {
        basic,
        client_id: form.single("client_id")?.map(str::to_string),
        client_secret: form.single("client_secret")?.map(str::to_string),
        client_assertion_type: form.single("client_assertion_type")?.map(str::to_string),
        client_assertion: form.single("client_assertion")?.map(str::to_string),
    })
}

fn form_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("v={part}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let raw = STANDARD.encode("my%20id:s%3Acret+x");
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {raw}")).unwrap(),
        );
        let creds = client_credentials(&headers, &TokenRequest::default()).unwrap();
        assert_eq!(creds.basic, Some(("my id".into(), "s:cret x".into())));
    }

    #[test]
    fn json_bodies_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(parse_form(&headers, b"{}").is_err());
    }
}
