use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyway_store::{RefreshTokenRecord, TokenFamilyRecord};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{TokenRequest, TokenResponse, join, parse_resources, split};
use crate::tokens::Subject;
use crate::{AuthService, Client, GrantType, OAuthError, ScopeSet, random_token, sha256_hex};

/// Checks a PKCE verifier's syntax (RFC 7636 §4.1: 43–128 unreserved characters).
pub(crate) fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier)) == challenge` (RFC 7636 §4.6, S256), in constant time.
pub(crate) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// The token family a code's tokens belong to.
fn family_of(
    record: &keyway_store::AuthorizationCodeRecord,
    scope: &ScopeSet,
    resources: &[String],
    now: i64,
    dpop_jkt: Option<String>,
) -> TokenFamilyRecord {
    TokenFamilyRecord {
        family_id: record.family_id.clone(),
        client_id: record.client_id.clone(),
        user_id: record.user_id.clone(),
        scope: scope.to_string(),
        resources: join(resources),
        auth_time: record.auth_time,
        created_at: now,
        revoked_at: None,
        dpop_jkt,
        login_method: record.login_method.clone(),
        sid: record.sid.clone(),
        transmitted_from: record.transmitted_from.clone(),
    }
}

/// What a user authorised, to mint tokens from.
pub(crate) struct Delegation<'a> {
    pub family_id: &'a str,
    pub user_id: &'a str,
    pub auth_time: i64,
    pub scope: &'a ScopeSet,
    pub resources: Vec<String>,
    pub nonce: Option<&'a str>,
    /// The DPoP key the access token is bound to, if the request proved one.
    pub dpop: Option<&'a crate::DpopKey>,
    /// How the user signed in (`password` or an upstream's name), for the ID token.
    pub login_method: Option<&'a str>,
    /// The login session the user authorised in (the ID token's `sid`).
    pub sid: Option<&'a str>,
    /// The client that handed the user over, for `transmitted_from`.
    pub transmitted_from: Option<&'a str>,
    /// The user, when the caller read it already (with the refresh token); else it is read.
    pub user: Option<keyway_store::UserRecord>,
    /// A refresh token to mark rotated (its digest, the time in ms), written with the new
    /// tokens' records.
    pub rotate: Option<(&'a str, i64)>,
}

impl AuthService {
    /// RFC 6749 §4.1.3 with PKCE. A second use of a code revokes what the first use issued.
    pub(crate) async fn authorization_code_grant(
        &self,
        client: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(OAuthError::unauthorized_client(
                "this client may not use the authorization_code grant",
            ));
        }
        // Validate the whole request before the code is consumed: bad input changes nothing.
        let code = request.required("code")?;
        let redirect_uri = request.required("redirect_uri")?;
        let verifier = request.single("code_verifier")?;
        if verifier.is_some_and(|v| !valid_verifier(v)) {
            return Err(OAuthError::invalid_request(
                "code_verifier must be 43–128 characters of [A-Za-z0-9-._~]",
            ));
        }
        let asked_resources = parse_resources(&request.all("resource"))?;
        let now_ms = self.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let code_hash = sha256_hex(code);
        let Some(record) = self.store.authorization_code(&code_hash).await? else {
            return Err(OAuthError::invalid_grant("unknown authorization code"));
        };
        if record.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "code was issued to another client",
            ));
        }
        if record.used_at.is_some() {
            return Err(self.code_replayed(client, &record, now).await?);
        }
        // Only a request that would succeed consumes the code: a thief's wrong verifier or
        // redirect_uri must not make the real client's exchange fail.
        if record.expires_at <= now {
            return Err(OAuthError::invalid_grant("authorization code expired"));
        }
        if record.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        // A transmitted code has no challenge: its client did not start the flow, and
        // proves itself with its credentials (public clients cannot receive transmits).
        match (verifier, record.transmitted_from.is_some()) {
            (None, true) if !client.public => {}
            (None, _) => {
                return Err(OAuthError::invalid_request(
                    "parameter code_verifier is missing",
                ));
            }
            (Some(_), true) => {
                return Err(OAuthError::invalid_grant(
                    "this code was transmitted from another client: redeem it without a \
                     code_verifier",
                ));
            }
            (Some(verifier), false) => {
                if !pkce_matches(verifier, &record.code_challenge) {
                    return Err(OAuthError::invalid_grant(
                        "code_verifier does not match the code_challenge",
                    ));
                }
            }
        }
        // RFC 9449 §10: a code bound to a key is redeemed only with a proof by that key.
        if let Some(bound) = &record.dpop_jkt
            && dpop.is_none_or(|key| key.jkt != *bound)
        {
            return Err(OAuthError::new(
                crate::ErrorCode::InvalidDpopProof,
                "this code is bound to a DPoP key (dpop_jkt): send a DPoP proof by that key",
            ));
        }
        let granted_resources = split(&record.resources);
        let resources = if asked_resources.is_empty() {
            granted_resources
        } else if asked_resources
            .iter()
            .all(|r| granted_resources.contains(r))
        {
            asked_resources
        } else {
            return Err(OAuthError::new(
                crate::ErrorCode::InvalidTarget,
                "resource was not part of the authorization",
            ));
        };
        if !self.store.mark_code_used(&code_hash, now).await? {
            // Another redemption won the race between our read and this mark.
            return Err(self.code_replayed(client, &record, now).await?);
        }
        // What the user holds now: a user-granted scope taken since the code was issued is
        // not given.
        let (scope, _) = self
            .scopes_for_user(&record.user_id, &ScopeSet::parse(&record.scope)?)
            .await?;
        // RFC 9449 §5: a public client's refresh tokens are bound to the key of the proof that
        // came with the code (a confidential client proves itself with its credentials).
        let bound_to = dpop
            .filter(|_| client.auth_method == crate::AuthMethod::None)
            .map(|key| key.jkt.clone());
        let family = family_of(&record, &scope, &resources, now, bound_to);
        match self.store.insert_token_family(&family).await {
            Ok(()) => {}
            // A replay of this code got there first and left the family revoked.
            Err(keyway_store::StoreError::Conflict(_)) => {
                return Err(OAuthError::invalid_grant(
                    "authorization code was already used",
                ));
            }
            Err(err) => return Err(err.into()),
        }
        self.issue_delegated_tokens(
            client,
            Delegation {
                family_id: &record.family_id,
                user_id: &record.user_id,
                auth_time: record.auth_time,
                scope: &scope,
                resources,
                nonce: record.nonce.as_deref(),
                dpop,
                login_method: record.login_method.as_deref(),
                sid: record.sid.as_deref(),
                transmitted_from: record.transmitted_from.as_deref(),
                user: None,
                rotate: None,
            },
        )
        .await
    }

    /// Mints the access token (recorded in its family), a refresh token when the client may
    /// refresh, and an ID token when `openid` was granted.
    pub(crate) async fn issue_delegated_tokens(
        &self,
        client: &Client,
        delegation: Delegation<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        // The way the user signed in must still be one this client takes and this hub offers:
        // restricting a client or removing an upstream ends what it already issued.
        let method = delegation.login_method.unwrap_or(crate::PASSWORD);
        if self.requires_mfa(client) && !crate::second_factor::is_multi_factor(method) {
            return Err(OAuthError::invalid_grant(
                "this client requires a second factor, and the user signed in without one: \
                 have them sign in again",
            ));
        }
        if !self.session_fits(client, delegation.login_method, None) {
            return Err(OAuthError::invalid_grant(format!(
                "the user signed in with {:?}, which is no longer allowed for this client or \
                 configured on this hub",
                delegation.login_method.unwrap_or(crate::PASSWORD)
            )));
        }
        let now = self.clock.now_secs();
        let user = match delegation.user {
            Some(user) => Some(user),
            None => self.store.user_by_id(delegation.user_id).await?,
        };
        let Some(user) = user else {
            return Err(OAuthError::invalid_grant("the user no longer exists"));
        };
        if user.disabled_at.is_some() {
            return Err(OAuthError::invalid_grant("the user is disabled"));
        }
        let subject = Subject {
            sub: &user.user_id,
            client_id: &client.client_id,
            username: Some(&user.username),
            auth_time: Some(delegation.auth_time),
            cnf: delegation.dpop,
            login_method: delegation.login_method,
            sid: delegation.sid,
            act: None,
            transmitted_from: delegation.transmitted_from,
            not_after: None,
        };
        let mut audience = delegation.resources.clone();
        if audience.is_empty() {
            audience.push(self.config.default_audience.clone());
        }
        let scope_text = delegation.scope.to_string();
        let (access_token, claims) =
            self.mint_access_token(&subject, &scope_text, audience, Some(delegation.family_id))?;
        let refresh_token = client
            .allows(GrantType::RefreshToken)
            .then(|| format!("kwr_{}", random_token(self.entropy.as_ref(), 32)));
        // The access token, the refresh token and the rotation of the one it replaces, as one
        // write (one trip to SQLite's single writer).
        let refresh_record = refresh_token.as_ref().map(|token| RefreshTokenRecord {
            token_hash: sha256_hex(token),
            family_id: delegation.family_id.to_string(),
            client_id: client.client_id.clone(),
            scope: scope_text.clone(),
            created_at: now,
            expires_at: now + self.config.refresh_token_ttl,
            rotated_at: None,
        });
        let live = self
            .store
            .record_issued(&keyway_store::Issued {
                family_id: delegation.family_id,
                access_jti: &claims.jti,
                access_expires_at: claims.exp,
                refresh: refresh_record.as_ref(),
                rotate: delegation.rotate,
            })
            .await?;
        if !live {
            // Revoked while this request ran (a concurrent revocation, reuse or replay).
            return Err(OAuthError::invalid_grant("the grant was revoked"));
        }
        let id_token = if delegation.scope.contains("openid") {
            let standard = self.user_claims(&user, delegation.scope).await?;
            Some(self.mint_id_token(&subject, delegation.nonce, &access_token, standard)?)
        } else {
            None
        };
        // g2d1 clients read the same tokens as `coder` and `refresh_coder_token`.
        let g2d1 = client.policy.profile == Some(crate::ClientProfile::G2d1);
        Ok(TokenResponse {
            coder: g2d1.then(|| access_token.clone()),
            refresh_coder_token: refresh_token.clone().filter(|_| g2d1),
            access_token,
            token_type: super::token_type(delegation.dpop),
            expires_in: self.config.access_token_ttl,
            scope: scope_text,
            refresh_token,
            id_token,
            issued_token_type: None,
        })
    }

    /// A second redemption of a code: revokes whatever the first one issued (RFC 9700 §4.14).
    async fn code_replayed(
        &self,
        client: &Client,
        record: &keyway_store::AuthorizationCodeRecord,
        now: i64,
    ) -> Result<OAuthError, OAuthError> {
        let scope = ScopeSet::parse(&record.scope)?;
        let family = family_of(record, &scope, &split(&record.resources), now, None);
        // Revoked, or created revoked when the first redemption has not made it yet.
        self.store.revoke_code_family(&family, now).await?;
        self.reload_revocations_soon().await;
        tracing::warn!(client_id = %client.client_id, "authorization code replayed; its tokens are revoked");
        Ok(OAuthError::invalid_grant(
            "authorization code was already used",
        ))
    }

    /// After a revocation in the store, make this process see it at once.
    pub(crate) async fn reload_revocations_soon(&self) {
        let now = self.clock.now_secs();
        if let Ok(jtis) = self.store.revoked_access_tokens(now).await {
            self.revoked.replace(jtis);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_verifier(verifier));
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
    }

    #[test]
    fn verifier_syntax() {
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}+", "a".repeat(50))));
    }
}
