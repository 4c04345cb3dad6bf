//! Handing a signed-in user from client A to client B (the g2d1 "transmit" flow,
//! docs/oauth.md "Transmit"): A asks by the back channel (`POST /oauth2/transmit`) with the
//! user's access token and gets a single-use link of at most 60 s; the browser opens it at
//! the hub, which checks that the person signed in here is the user A handed over, asks for
//! consent to B's scopes unless remembered, and sends the browser to B's transmit URL with a
//! signed code (JARM, or the g2d1 signature for g2d1 clients). The rest is the code flow:
//! B redeems the code with its credentials and its transmit URL, without PKCE.

use keyway_store::{AuthorizationRequestRecord, TransmitStateRecord};

use crate::audit::{Decision, Outcome};
use crate::grants::{Crossing, Trace, invalid_target, not_a_target};
use crate::jarm::ResponseMode;
use crate::{
    AuthService, AuthorizeOutcome, Client, ErrorCode, OAuthError, RulePurpose, SessionUser,
    TokenRequest, random_token, sha256_hex,
};

/// Where transmit links live, under the issuer.
pub const TRANSMIT_PATH: &str = "/oauth2/transmit";
/// A transmit link works once, within this many seconds.
pub const TRANSMIT_TTL: i64 = 60;
/// Longest `transmit_fun`, of `[A-Za-z0-9._:-]`.
pub const MAX_TRANSMIT_FUN: usize = 64;
/// Longest `transmit_data` in bytes (UTF-8).
pub const MAX_TRANSMIT_DATA: usize = 4096;
/// Random characters in a transmit link (base64url, 256 bits).
const STATE_LEN: usize = 43;

/// What `POST /oauth2/transmit` answers: where A sends the browser.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TransmitLink {
    pub redirect_to: String,
    pub expires_in: i64,
}

/// What opening a transmit link leads to.
#[derive(Debug, Clone)]
pub enum TransmitOpened {
    /// Nobody is signed in here: sign in as this user, then open the link again.
    SignIn { username: String },
    /// Consent, or straight on to B.
    Next(AuthorizeOutcome),
}

fn checked_fun(value: Option<&str>) -> Result<Option<String>, OAuthError> {
    let Some(fun) = value else { return Ok(None) };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if fun.is_empty() || fun.len() > MAX_TRANSMIT_FUN || !fun.chars().all(allowed) {
        return Err(OAuthError::invalid_request(format!(
            "transmit_fun must be 1–{MAX_TRANSMIT_FUN} characters of [A-Za-z0-9._:-]"
        )));
    }
    Ok(Some(fun.to_string()))
}

fn checked_data(value: Option<&str>) -> Result<Option<String>, OAuthError> {
    let Some(data) = value else { return Ok(None) };
    if data.len() > MAX_TRANSMIT_DATA {
        return Err(OAuthError::invalid_request(format!(
            "transmit_data has {} bytes; at most {MAX_TRANSMIT_DATA} (UTF-8) are carried",
            data.len()
        )));
    }
    // Shown and logged by the receiving application: no control characters (line breaks
    // and escape sequences included), bidirectional controls, line and paragraph
    // separators, invisible characters (`lenient_path::invisible`), nor U+FFFD: what the
    // form's decoding made of bytes that are no UTF-8.
    let invisible = |c: char| crate::lenient_path::invisible(c) || c == char::REPLACEMENT_CHARACTER;
    if let Some(bad) = data.chars().find(|c| c.is_control() || invisible(*c)) {
        return Err(OAuthError::invalid_request(format!(
            "transmit_data holds U+{:04X}, a control, bidirectional or invisible character (or \
             bytes that are no UTF-8): send visible text on one line (JSON is fine)",
            u32::from(bad)
        )));
    }
    Ok(Some(data.to_string()))
}

impl AuthService {
    /// `POST /oauth2/transmit` from an authenticated client: checks the rule and the user's
    /// token, stores a single-use state and answers the link to send the browser to.
    pub async fn transmit(
        &self,
        client: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
    ) -> Result<TransmitLink, OAuthError> {
        let mut trace = Trace::default();
        let result = self.start_transmit(client, request, dpop, &mut trace).await;
        let allowed = result.as_ref().map(|_| "link issued".to_string());
        self.audit_traced("transmit", client, trace, allowed).await;
        result
    }

    async fn start_transmit(
        &self,
        client: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
        trace: &mut Trace,
    ) -> Result<TransmitLink, OAuthError> {
        if client.public {
            return Err(OAuthError::unauthorized_client(
                "a public client cannot hand users over: it has no credentials to act with",
            ));
        }
        let to = request.required("to")?;
        let fun = checked_fun(request.single("transmit_fun")?)?;
        let data = checked_data(request.single("transmit_data")?)?;
        request.required("subject_token")?;
        let target = self.transmit_target(client, to).await?;
        trace.target = Some(target.client_id.clone());
        if target.public
            || target.policy.transmit_url.is_none()
            || !target.allows(crate::GrantType::AuthorizationCode)
        {
            return Err(invalid_target(format!(
                "client {} cannot receive users: it needs a transmit URL, credentials and the \
                 authorization_code grant",
                target.client_id
            )));
        }
        let Crossing { claims, scope } = self
            .crossing(client, &target, request, dpop, RulePurpose::Transmit, trace)
            .await?;
        // B gets no more than it is registered for: asked beyond, refused; else narrowed.
        if request.single("scope")?.is_some() && !scope.is_subset(&target.scopes) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {:?} is more than client {} is registered for",
                scope.not_in(&target.scopes).join(" "),
                target.client_id
            )));
        }
        let scope = scope.intersection(&target.scopes);
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope(format!(
                "no scope may cross: client {} is registered for none of those that may",
                target.client_id
            )));
        }
        let now = self.clock.now_secs();
        let state = random_token(self.entropy.as_ref(), 32);
        self.store
            .insert_transmit_state(&TransmitStateRecord {
                state_hash: sha256_hex(&state),
                from_client: client.client_id.clone(),
                to_client: target.client_id.clone(),
                user_id: claims.sub.clone(),
                scope: scope.to_string(),
                transmit_fun: fun,
                transmit_data: data,
                created_at: now,
                expires_at: now + TRANSMIT_TTL,
                used_at: None,
            })
            .await?;
        Ok(TransmitLink {
            redirect_to: format!("{}{TRANSMIT_PATH}/{state}", self.config.issuer),
            expires_in: TRANSMIT_TTL,
        })
    }

    /// The client `to` names (a client_id, or a registered name) that `client` has a transmit
    /// rule to. No such client and no rule to it are one answer, as for token exchange, so
    /// that a client cannot map the hub's other clients by asking; what a ruled target lacks
    /// is told.
    async fn transmit_target(
        &self,
        client: &Client,
        to: &str,
    ) -> Result<std::sync::Arc<Client>, OAuthError> {
        let target = match self
            .client_named_for(&client.client_id, to, RulePurpose::Transmit)
            .await?
        {
            Ok(Some(target)) => target,
            Ok(None) => return Err(not_a_target("to", to, RulePurpose::Transmit.verb())),
            Err(ids) => {
                return Err(invalid_target(format!(
                    "to {to:?} is the name of {} clients this client may hand users to: give \
                     the client_id of the one meant ({})",
                    ids.len(),
                    crate::client_rules::some_ids(&ids)
                )));
            }
        };
        if target.client_id == client.client_id {
            return Err(invalid_target("to names this client itself"));
        }
        let ruled = self
            .client_rule(&client.client_id, &target.client_id, RulePurpose::Transmit)
            .await?;
        if ruled.is_none() {
            return Err(not_a_target("to", to, RulePurpose::Transmit.verb()));
        }
        Ok(target)
    }

    /// The scopes a transmitted code gets, checked again when it is issued (after consent,
    /// which may take minutes): the rule must still exist and caps them, as do the target's
    /// registered scopes. Audited either way.
    pub(crate) async fn transmitted_scope(
        &self,
        record: &AuthorizationRequestRecord,
        from: &str,
        user_id: &str,
        scope: crate::ScopeSet,
    ) -> Result<crate::ScopeSet, OAuthError> {
        let rule = self
            .client_rule(from, &record.client_id, RulePurpose::Transmit)
            .await?;
        let target = self.client(&record.client_id).await?;
        let (Some(rule), Some(target)) = (rule, target) else {
            self.audit_transmit_step(from, record, user_id, false, "the rule was removed")
                .await;
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the application may no longer receive users from the one you came from",
            ));
        };
        let scope = rule.cap(&scope).intersection(&target.scopes);
        let what = format!("code issued; scope {scope}");
        self.audit_transmit_step(from, record, user_id, true, &what)
            .await;
        Ok(scope)
    }

    /// Audits a link that was refused when opened (stale, replayed, the wrong person…).
    async fn audit_refused_link(&self, record: &TransmitStateRecord, why: &str) {
        self.audit_decision(Decision {
            action: "transmit",
            client: &record.from_client,
            target: Some(&record.to_client),
            user_id: Some(&record.user_id),
            rule: None,
            outcome: Outcome::Refused,
            reason: why.to_string(),
        })
        .await;
    }

    /// Audits a step of a transmit after the link was opened (consent, code).
    pub(crate) async fn audit_transmit_step(
        &self,
        from: &str,
        record: &AuthorizationRequestRecord,
        user_id: &str,
        allowed: bool,
        what: &str,
    ) {
        self.audit_decision(Decision {
            action: "transmit",
            client: from,
            target: Some(&record.client_id),
            user_id: Some(user_id),
            rule: Some(format!("{from} -> {} for transmit", record.client_id)),
            outcome: if allowed {
                Outcome::Allowed
            } else {
                Outcome::Refused
            },
            reason: what.to_string(),
        })
        .await;
    }

    /// The browser opened a transmit link. Errors are shown as a page (nothing is issued).
    pub async fn open_transmit(
        &self,
        state: &str,
        session: Option<SessionUser>,
    ) -> Result<TransmitOpened, OAuthError> {
        let gone = |why: &str| OAuthError::invalid_request(why.to_string());
        let well_formed = state.len() == STATE_LEN
            && state
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let record = match well_formed {
            true => self.store.transmit_state(&sha256_hex(state)).await?,
            false => None,
        };
        let Some(record) = record else {
            return Err(gone(
                "this link is not one this hub made: go back to the application and follow its \
                 link again",
            ));
        };
        let now = self.clock.now_secs();
        let stale = if record.used_at.is_some() {
            Some("the link was opened again")
        } else if record.expires_at <= now {
            Some("the link had expired")
        } else {
            None
        };
        if let Some(why) = stale {
            self.audit_refused_link(&record, why).await;
        }
        if record.used_at.is_some() {
            return Err(gone(
                "this link was used already: a link that hands you to another application works \
                 once; go back and follow it again",
            ));
        }
        if record.expires_at <= now {
            return Err(gone(&format!(
                "this link expired (it worked for {TRANSMIT_TTL} seconds): go back to the \
                 application and follow its link again"
            )));
        }
        let (from, target) = match (
            self.client(&record.from_client).await?,
            self.client(&record.to_client).await?,
        ) {
            (Some(from), Some(target)) => (from, target),
            _ => return Err(gone("the application is no longer registered at this hub")),
        };
        let Some(transmit_url) = target.policy.transmit_url.clone() else {
            return Err(gone("the application no longer takes users handed over"));
        };
        let Some(session) = session else {
            let user = self.store.user_by_id(&record.user_id).await?;
            return match user {
                Some(user) => Ok(TransmitOpened::SignIn {
                    username: user.username,
                }),
                None => Err(gone("the account this link was made for no longer exists")),
            };
        };
        let refuse = async |why: String| {
            self.audit_refused_link(&record, &why).await;
            OAuthError::new(ErrorCode::AccessDenied, why)
        };
        if session.user_id != record.user_id {
            // The log names who opened it (the page does not: it is that person's).
            let opener = match self.store.user_by_id(&session.user_id).await? {
                Some(user) => format!("{} ({})", user.username, session.user_id),
                None => session.user_id.clone(),
            };
            self.audit_refused_link(
                &record,
                &format!("opened by another account, {opener}: nothing issued"),
            )
            .await;
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                format!(
                    "this link was made for another account: {} handed over a different person \
                     than the one signed in here. Sign out and sign in as them, or go back to {}",
                    from.name, from.name
                ),
            ));
        }
        let rule = self
            .client_rule(
                &record.from_client,
                &record.to_client,
                RulePurpose::Transmit,
            )
            .await?;
        let Some(rule) = rule else {
            return Err(refuse(format!(
                "{} may no longer hand users to {}",
                from.name, target.name
            ))
            .await);
        };
        let method = session
            .login_method
            .clone()
            .unwrap_or_else(|| crate::PASSWORD.into());
        if !self.session_fits(&target, Some(&method), None) {
            return Err(refuse(format!(
                "{} does not accept the way you signed in here ({method}): sign in to it directly",
                target.name
            ))
            .await);
        }
        if !self
            .store
            .spend_transmit_state(&record.state_hash, now)
            .await?
        {
            return Err(gone(
                "this link was used already: a link that hands you to another application works \
                 once; go back and follow it again",
            ));
        }
        let (scope, withheld) = self
            .scopes_for_user(&session.user_id, &crate::ScopeSet::parse(&record.scope)?)
            .await?;
        let mut custom = vec![("from".to_string(), from.client_id.clone())];
        if let Some(fun) = &record.transmit_fun {
            custom.push(("transmit_fun".into(), fun.clone()));
        }
        if let Some(data) = &record.transmit_data {
            custom.push(("transmit_data".into(), data.clone()));
        }
        let extras = crate::g2d1::SignedExtras {
            custom,
            login_type: Some(crate::upstream::login_type_of(&method).to_string()),
            transmitted_from: Some(from.client_id.clone()),
        };
        // g2d1 clients get the g2d1 signature on a plain redirect; everyone else JARM.
        let mode = match target.policy.profile {
            Some(crate::ClientProfile::G2d1) => ResponseMode::Query,
            None => ResponseMode::QueryJwt,
        };
        let request = AuthorizationRequestRecord {
            request_id: random_token(self.entropy.as_ref(), 24),
            client_id: target.client_id.clone(),
            redirect_uri: transmit_url,
            scope: scope.to_string(),
            state: None,
            nonce: None,
            prompt: None,
            code_challenge: String::new(),
            resources: String::new(),
            user_id: Some(session.user_id.clone()),
            auth_time: Some(session.auth_time),
            created_at: now,
            expires_at: now + self.config.authorization_request_ttl,
            response_mode: mode.stored(),
            extra: Some(
                serde_json::to_string(&extras)
                    .map_err(|e| OAuthError::server_error(e.to_string()))?,
            ),
            dpop_jkt: None,
            login_method: Some(method),
            sid: session.sid.clone(),
        };
        self.audit_decision(Decision {
            action: "transmit",
            client: &record.from_client,
            target: Some(&record.to_client),
            user_id: Some(&record.user_id),
            rule: Some(rule.label()),
            outcome: Outcome::Allowed,
            reason: format!("link opened by the user; scope {scope}"),
        })
        .await;
        if self
            .has_consent(&session.user_id, &target.client_id, &scope)
            .await?
        {
            let redirect = self
                .issue_code(&request, &session.user_id, session.auth_time)
                .await?;
            return Ok(TransmitOpened::Next(AuthorizeOutcome::Redirect(redirect)));
        }
        self.store.insert_authorization_request(&request).await?;
        let mut pending = self.pending_view(&request, &target);
        pending.withheld = withheld;
        pending.handed_over_by = Some(from.name.clone());
        Ok(TransmitOpened::Next(AuthorizeOutcome::Consent(pending)))
    }
}
