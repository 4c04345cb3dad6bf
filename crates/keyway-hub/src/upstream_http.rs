//! The HTTP client of sign-in through upstream OpenID Connect providers (keyway-auth's
//! `UpstreamHttp`): the JWKS fetcher's client (5 s timeout, no redirects followed), answers
//! read up to a limit.

use std::future::Future;
use std::pin::Pin;

use keyway_auth::{FormResponse, UpstreamHttp};

use crate::jwks_fetch::{HttpJwksSource, read_limited};

/// Discovery documents, JWK Sets and token responses are a few KiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl UpstreamHttp for HttpJwksSource {
    fn get_json<'a>(
        &'a self,
        url: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async move {
            let response = self
                .client
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| describe(&e))?;
            if !response.status().is_success() {
                return Err(format!(
                    "{url} answered HTTP {}",
                    response.status().as_u16()
                ));
            }
            read_limited(response, MAX_ANSWER_BYTES).await
        })
    }

    fn post_form<'a>(
        &'a self,
        url: &'a str,
        (user, password): (&'a str, &'a str),
        form: &'a [(&'a str, &'a str)],
    ) -> Pin<Box<dyn Future<Output = Result<FormResponse, String>> + Send + 'a>> {
        Box::pin(async move {
            let response = self
                .client
                .post(url)
                .basic_auth(user, Some(password))
                .header(reqwest::header::ACCEPT, "application/json")
                .form(form)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status().as_u16();
            Ok((status, read_limited(response, MAX_ANSWER_BYTES).await?))
        })
    }
}

/// A transport error as a short sentence (reqwest's Display nests its sources).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "no answer within 5 seconds".into()
    } else if err.is_connect() {
        "connection refused or unreachable".into()
    } else {
        err.to_string()
    }
}
