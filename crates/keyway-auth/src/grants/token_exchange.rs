//! RFC 8693 token exchange: a client trades a user's access token it holds for one meant for
//! another client (`audience`, or `resource` = that client's API URL), with `act` naming
//! itself (delegation, §4.1). A rule `exchange` from the client to the target must exist; the
//! scopes are those the subject token holds, capped by the rule.

use std::sync::Arc;

use super::{TokenRequest, TokenResponse};
use crate::audit::{Decision, Outcome};
use crate::tokens::Subject;
use crate::{AccessTokenClaims, AuthService, Client, ErrorCode, OAuthError, RulePurpose, ScopeSet};

/// The grant type (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of an access token (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What the audit log says of an exchange or a transmit, filled in as the request is
/// understood.
#[derive(Default)]
pub(crate) struct Trace {
    pub(crate) target: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) rule: Option<String>,
}

/// A user's authority that may cross from a client to another under a rule.
pub(crate) struct Crossing {
    pub(crate) claims: Arc<AccessTokenClaims>,
    pub(crate) scope: ScopeSet,
}

fn invalid_request(why: impl Into<String>) -> OAuthError {
    OAuthError::invalid_request(why)
}

/// No such client, or no exchange rule to it: one answer, so that a client cannot map the
/// hub's other clients (names, ids, API URLs) by asking. Names the parameter and its value
/// (at most 200 characters of it).
pub(crate) fn not_a_target(parameter: &str, value: &str, what: &str) -> OAuthError {
    let shown = match value.char_indices().nth(200) {
        Some((at, _)) => &value[..at],
        None => value,
    };
    // Transmit's `to` names a client by id or name; exchange's parameters, by API URL too.
    let by = if parameter == "to" {
        "client_id or registered name"
    } else {
        "client_id, registered name or API URL"
    };
    invalid_target(format!(
        "{parameter} {shown:?} names no client this client may {what}: no such client (by \
         {by}), or no rule lets this client {what} it"
    ))
}

pub(crate) fn invalid_target(why: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, why)
}

impl AuthService {
    pub(crate) async fn token_exchange_grant(
        &self,
        client: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
    ) -> Result<TokenResponse, OAuthError> {
        let mut trace = Trace::default();
        let result = self.exchange(client, request, dpop, &mut trace).await;
        let allowed = result.as_ref().map(|r| format!("scope {}", r.scope));
        self.audit_traced("exchange", client, trace, allowed).await;
        result
    }

    /// Audits a decision traced as it was made: allowed (with `allowed`'s text) or refused
    /// (with the error's code and description).
    pub(crate) async fn audit_traced(
        &self,
        action: &str,
        client: &Client,
        trace: Trace,
        allowed: Result<String, &OAuthError>,
    ) {
        let (outcome, reason) = match allowed {
            Ok(what) => (Outcome::Allowed, what),
            Err(err) => (
                Outcome::Refused,
                format!("{}: {}", err.code.as_str(), err.description),
            ),
        };
        self.audit_decision(Decision {
            action,
            client: &client.client_id,
            target: trace.target.as_deref(),
            user_id: trace.user_id.as_deref(),
            rule: trace.rule,
            outcome,
            reason,
        })
        .await;
    }

    async fn exchange(
        &self,
        client: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
        trace: &mut Trace,
    ) -> Result<TokenResponse, OAuthError> {
        if client.public {
            return Err(OAuthError::unauthorized_client(
                "a public client cannot exchange tokens: it has no credentials to act with",
            ));
        }
        // Checked first: its absence is the likeliest mistake.
        request.required("subject_token")?;
        match request.required("subject_token_type")? {
            ACCESS_TOKEN_TYPE => {}
            other => {
                return Err(invalid_request(format!(
                    "subject_token_type {other:?} is not supported: give an access token of this \
                     hub ({ACCESS_TOKEN_TYPE})"
                )));
            }
        }
        if request.single("actor_token")?.is_some() || request.single("actor_token_type")?.is_some()
        {
            return Err(invalid_request(
                "actor_token is not supported: the actor is the client that authenticated",
            ));
        }
        if let Some(asked) = request.single("requested_token_type")?
            && asked != ACCESS_TOKEN_TYPE
        {
            return Err(invalid_request(format!(
                "requested_token_type {asked:?} is not supported: this hub issues access tokens \
                 ({ACCESS_TOKEN_TYPE})"
            )));
        }
        let target = self.exchange_target(request, &client.client_id).await?;
        trace.target = Some(target.client_id.clone());
        if target.client_id == client.client_id {
            return Err(invalid_target(
                "the audience is this client itself: exchange tokens for another client",
            ));
        }
        let Crossing { claims, scope } = self
            .crossing(client, &target, request, dpop, RulePurpose::Exchange, trace)
            .await?;
        let mut audience = vec![target.client_id.clone()];
        if let Some(api) = &target.policy.api_url {
            audience.push(api.clone());
        }
        let subject = Subject {
            sub: &claims.sub,
            client_id: &client.client_id,
            username: claims.username.as_deref(),
            auth_time: claims.auth_time,
            cnf: dpop,
            login_method: None,
            sid: None,
            act: Some(&client.client_id),
            transmitted_from: claims.transmitted_from.as_deref(),
            not_after: Some(claims.exp),
        };
        // Its jti is the subject token's and more (`revocation.rs`): revoking the subject
        // token, logging the user out, or revoking what the family gave ends it too.
        let family = Some(claims.jti.as_str());
        let scope_text = scope.to_string();
        let (access_token, minted) =
            self.mint_access_token(&subject, &scope_text, audience, family)?;
        Ok(TokenResponse {
            access_token,
            token_type: super::token_type(dpop),
            expires_in: minted.exp - minted.iat,
            scope: scope_text,
            refresh_token: None,
            id_token: None,
            coder: None,
            refresh_coder_token: None,
            issued_token_type: Some(ACCESS_TOKEN_TYPE),
        })
    }

    /// The subject token A presents for B (`subject_token`), the rule from A to B for
    /// `purpose`, and the scopes that cross (`scope` asked, within the rule and the token).
    pub(crate) async fn crossing(
        &self,
        client: &Client,
        target: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
        purpose: RulePurpose,
        trace: &mut Trace,
    ) -> Result<Crossing, OAuthError> {
        let subject_token = request.required("subject_token")?;
        let claims = self.subject_claims(client, subject_token, dpop).await?;
        trace.user_id = Some(claims.sub.clone());
        let Some(rule) = self
            .client_rule(&client.client_id, &target.client_id, purpose)
            .await?
        else {
            let what = purpose.verb();
            // Named as the request named it (exchange: audience or resource; transmit: to).
            let named = ["audience", "resource", "to"]
                .into_iter()
                .find_map(|p| request.single(p).ok().flatten().map(|v| (p, v)))
                .unwrap_or(("audience", ""));
            return Err(not_a_target(named.0, named.1, what));
        };
        trace.rule = Some(rule.label());
        let scope = crossing_scope(&rule, &claims.scope, request.single("scope")?)?;
        Ok(Crossing { claims, scope })
    }

    /// The client named by `audience` (its id) and/or `resource` (its API URL); both must
    /// name the same one.
    async fn exchange_target(
        &self,
        request: &TokenRequest,
        caller: &str,
    ) -> Result<Arc<Client>, OAuthError> {
        let audiences = request.all("audience");
        let resources = request.all("resource");
        if audiences.len() > 1 || resources.len() > 1 {
            return Err(invalid_target(
                "name one target: one audience (a client_id) and/or one resource (its API URL)",
            ));
        }
        let by_audience = match audiences.first() {
            Some(name) => {
                match self
                    .client_named_for(caller, name, RulePurpose::Exchange)
                    .await?
                {
                    Ok(Some(client)) => Some(client),
                    Ok(None) => {
                        return Err(not_a_target("audience", name, RulePurpose::Exchange.verb()));
                    }
                    Err(ids) => {
                        return Err(invalid_target(format!(
                            "audience {name:?} is the name of {} clients this client may \
                             exchange tokens for: give the client_id of the one meant ({})",
                            ids.len(),
                            crate::client_rules::some_ids(&ids)
                        )));
                    }
                }
            }
            None => None,
        };
        let by_resource = match resources.first() {
            Some(url) => Some(
                self.client_by_api_url(url)
                    .await?
                    .ok_or_else(|| not_a_target("resource", url, RulePurpose::Exchange.verb()))?,
            ),
            None => None,
        };
        match (by_audience, by_resource) {
            (Some(a), Some(r)) if a.client_id != r.client_id => {
                // Told only of clients this one may exchange tokens for: else the answer
                // would map names and API URLs to clients.
                let url = resources.first().copied().unwrap_or_default();
                for (parameter, named, client) in [
                    (
                        "audience",
                        audiences.first().copied().unwrap_or_default(),
                        &a,
                    ),
                    ("resource", url, &r),
                ] {
                    let rule = self
                        .client_rule(caller, &client.client_id, RulePurpose::Exchange)
                        .await?;
                    if rule.is_none() {
                        return Err(not_a_target(parameter, named, RulePurpose::Exchange.verb()));
                    }
                }
                Err(invalid_target(format!(
                    "audience {} and resource {url:?} name different clients",
                    a.client_id
                )))
            }
            (Some(target), _) | (None, Some(target)) => Ok(target),
            (None, None) => Err(invalid_request(
                "name the target client: audience (its client_id) or resource (its API URL)",
            )),
        }
    }

    /// The claims of a subject token this client may exchange: an active access token of
    /// this hub, issued to this client for a user, not itself delegated, and — when bound to
    /// a DPoP key — presented with a proof by that key.
    pub(crate) async fn subject_claims(
        &self,
        client: &Client,
        token: &str,
        dpop: Option<&crate::DpopKey>,
    ) -> Result<Arc<AccessTokenClaims>, OAuthError> {
        let Some(claims) = self.active_access_token(token).await? else {
            return Err(invalid_request(
                "subject_token is not an active access token of this hub (expired, revoked, or \
                 not issued here)",
            ));
        };
        if claims.client_id != client.client_id {
            return Err(invalid_request(
                "subject_token was issued to another client: a client exchanges its own tokens",
            ));
        }
        if claims.username.is_none() {
            return Err(invalid_request(
                "subject_token is the client's own token, not a user's: exchange a token a user \
                 gave this client",
            ));
        }
        if claims.act.is_some() {
            return Err(invalid_request(
                "subject_token is itself delegated (it has act): exchange the user's own token",
            ));
        }
        if let Some(bound) = &claims.cnf
            && dpop.is_none_or(|key| key.jkt != bound.jkt)
        {
            return Err(invalid_request(
                "subject_token is DPoP-bound: send a DPoP proof made with its key",
            ));
        }
        Ok(claims)
    }
}

/// The scopes that cross under `rule` from a subject token holding `held`: those asked for
/// (each must be within the rule and the token), or all that may cross; never none.
pub(crate) fn crossing_scope(
    rule: &crate::ClientRule,
    held: &str,
    asked: Option<&str>,
) -> Result<ScopeSet, OAuthError> {
    let held = ScopeSet::parse(held)?;
    let may_cross = rule.cap(&held);
    let explain = || {
        format!(
            "the subject token holds {:?} and the rule lets {:?} cross",
            held.to_string(),
            rule.scope.as_deref().unwrap_or("the user's own scopes")
        )
    };
    let scope = match asked {
        Some(text) => {
            let asked = ScopeSet::parse(text)?;
            if let Some(extra) = asked.not_in(&may_cross).first() {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {extra:?} may not cross to client {}: {}",
                    rule.to,
                    explain()
                )));
            }
            asked
        }
        None => may_cross,
    };
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(format!(
            "no scope may cross to client {}: {}",
            rule.to,
            explain()
        )));
    }
    Ok(scope)
}
