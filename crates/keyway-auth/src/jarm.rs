//! How an authorization response goes back to the client: in the query (RFC 6749), or as one
//! JWT signed with the hub's keys (JARM, "JWT Secured Authorization Response Mode"), so the
//! client can tell that the code (or the error) came from this hub, unaltered, for it.

use serde_json::{Map, Value};

use crate::{AuthService, OAuthError, Redirect};

/// A JARM response lives at most this long (the draft says short; 10 minutes at most).
const RESPONSE_TTL: i64 = 600;

/// The response modes this hub answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    Query,
    /// `jwt` or `query.jwt`: `?response=<JWT>`.
    QueryJwt,
    /// OAuth 2.0 Form Post Response Mode: the parameters posted by a form in the browser.
    FormPost,
    /// `form_post.jwt`: `response=<JWT>` posted by a form in the browser.
    FormPostJwt,
}

impl ResponseMode {
    /// The mode a request asked for (`None`: the default, `query`).
    pub(crate) fn parse(asked: Option<&str>) -> Result<ResponseMode, OAuthError> {
        match asked {
            None | Some("query") => Ok(ResponseMode::Query),
            Some("jwt" | "query.jwt") => Ok(ResponseMode::QueryJwt),
            Some("form_post") => Ok(ResponseMode::FormPost),
            Some("form_post.jwt") => Ok(ResponseMode::FormPostJwt),
            Some(other) => Err(OAuthError::invalid_request(format!(
                "response_mode {other:?} is not supported (query, query.jwt, jwt, form_post or \
                 form_post.jwt)"
            ))),
        }
    }

    /// As stored with a pending request.
    pub(crate) fn stored(self) -> Option<String> {
        match self {
            ResponseMode::Query => None,
            ResponseMode::QueryJwt => Some("query.jwt".into()),
            ResponseMode::FormPost => Some("form_post".into()),
            ResponseMode::FormPostJwt => Some("form_post.jwt".into()),
        }
    }
}

impl AuthService {
    /// The URL that carries `pairs` (code and state, or error, error_description and state)
    /// back to `redirect_uri` of `client_id`, in `mode`; `iss` is added (RFC 9207 / JARM).
    pub(crate) fn response_url(
        &self,
        redirect_uri: &str,
        client_id: &str,
        mode: ResponseMode,
        pairs: &[(&str, &str)],
    ) -> Result<Redirect, OAuthError> {
        let issuer = self.config().issuer.as_str();
        let plain = || {
            let mut all = pairs.to_vec();
            all.push(("iss", issuer));
            all
        };
        let signed = || -> Result<String, OAuthError> {
            let now = self.clock().now_secs();
            let mut claims = Map::new();
            for (name, value) in pairs {
                claims.insert((*name).to_string(), Value::from(*value));
            }
            // The hub's own claims last: nothing carried in `pairs` can stand in for them.
            claims.insert("iss".into(), Value::from(issuer));
            claims.insert("aud".into(), Value::from(client_id));
            claims.insert("exp".into(), Value::from(now + RESPONSE_TTL));
            claims.insert("iat".into(), Value::from(now));
            self.sign_jwt("JWT", &claims)
        };
        let posted = |fields: Vec<(&str, &str)>| Redirect {
            location: redirect_uri.to_string(),
            post: Some(
                fields
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
            ),
        };
        Ok(match mode {
            ResponseMode::Query => Redirect::to(append_query(redirect_uri, &plain())),
            ResponseMode::FormPost => posted(plain()),
            ResponseMode::QueryJwt => Redirect::to(append_query(
                redirect_uri,
                &[("response", signed()?.as_str())],
            )),
            ResponseMode::FormPostJwt => posted(vec![("response", signed()?.as_str())]),
        })
    }
}

/// Adds query parameters to a registered redirect URI, keeping its own query (RFC 6749 §3.1.2).
pub(crate) fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}
