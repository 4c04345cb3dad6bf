use super::{TokenRequest, TokenResponse, split};
use crate::grants::authorization_code::Delegation;
use crate::{AuthService, Client, GrantType, OAuthError, ScopeSet, sha256_hex};

impl AuthService {
    /// RFC 6749 §6 with rotation: every use returns a new refresh token. A rotated token used
    /// again after the grace window means it leaked: the whole family is revoked.
    pub(crate) async fn refresh_token_grant(
        &self,
        client: &Client,
        request: &TokenRequest,
        dpop: Option<&crate::DpopKey>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows(GrantType::RefreshToken) {
            return Err(OAuthError::unauthorized_client(
                "this client may not use the refresh_token grant",
            ));
        }
        let token = match (
            request.single("refresh_token")?,
            request.single("refresh_coder_token")?,
        ) {
            // g2d1 clients may send their refresh token under its g2d1 name.
            (None, Some(coder)) if client.policy.profile == Some(crate::ClientProfile::G2d1) => {
                coder
            }
            (Some(token), Some(coder)) if token != coder => {
                return Err(OAuthError::invalid_request(
                    "refresh_token and refresh_coder_token differ",
                ));
            }
            _ => request.required("refresh_token")?,
        };
        let asked_scope = request.single("scope")?.map(ScopeSet::parse).transpose()?;
        if !request.all("resource").is_empty() {
            // Keep the audience stable within a family; narrowing is done at code exchange.
            super::parse_resources(&request.all("resource"))?;
        }
        let now_ms = self.clock.now_ms();
        let now = now_ms.div_euclid(1000);
        let hash = sha256_hex(token);
        // The scopes the user holds come with the token when the hub has user-granted scopes.
        let with_held = !self.config.user_granted_scopes.is_empty();
        let Some(rows) = self
            .store
            .refresh_token_with_family(&hash, with_held)
            .await?
        else {
            return Err(OAuthError::invalid_grant(
                "unknown or revoked refresh token",
            ));
        };
        let (record, family, user, held) = (rows.token, rows.family, rows.user, rows.held_scopes);
        if record.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "refresh token was issued to another client",
            ));
        }
        let Some(family) = family else {
            return Err(OAuthError::invalid_grant(
                "unknown or revoked refresh token",
            ));
        };
        if family.revoked_at.is_some() {
            return Err(OAuthError::invalid_grant(
                "unknown or revoked refresh token",
            ));
        }
        if record.expires_at <= now {
            return Err(OAuthError::invalid_grant("refresh token expired"));
        }
        if let Some(bound) = &family.dpop_jkt {
            match dpop {
                Some(key) if key.jkt == *bound => {}
                Some(_) => {
                    return Err(OAuthError::invalid_grant(
                        "this refresh token is bound to another DPoP key than the proof's",
                    ));
                }
                None => {
                    return Err(OAuthError::invalid_grant(
                        "this refresh token is bound to a DPoP key: send a DPoP proof by that key",
                    ));
                }
            }
        }
        // A scope taken from the client since (`keyway client update`) is not granted again.
        let granted = ScopeSet::parse(&record.scope)?.intersection(&client.scopes);
        // And a user-granted scope taken from the user (or their group) is not renewed.
        let (granted, _) = match held {
            Some(held) => self.scopes_held(&held, &granted)?,
            None => self.scopes_for_user(&family.user_id, &granted).await?,
        };
        let scope = match asked_scope {
            Some(asked) if !asked.is_empty() => {
                if !asked.is_subset(&granted) {
                    return Err(OAuthError::invalid_scope(
                        "a refresh may only narrow the granted scope",
                    ));
                }
                asked
            }
            _ => granted,
        };
        // Rotated long ago: a leak. Rotated within the grace window: a concurrent duplicate,
        // answered too. Not rotated yet: rotated together with recording the new tokens (one
        // group commit on SQLite); if another request rotates it first, that was an instant
        // ago, inside the window, so the outcome is the same.
        if let Some(at) = record.rotated_at
            && now_ms - at > self.config.refresh_grace_ms
        {
            self.store.revoke_family(&record.family_id, now).await?;
            self.reload_revocations_soon().await;
            tracing::warn!(client_id = %client.client_id, "rotated refresh token reused; family revoked");
            return Err(OAuthError::invalid_grant("refresh token was already used"));
        }
        self.issue_delegated_tokens(
            client,
            Delegation {
                family_id: &family.family_id,
                user_id: &family.user_id,
                auth_time: family.auth_time,
                scope: &scope,
                resources: split(&family.resources),
                nonce: None,
                dpop,
                login_method: family.login_method.as_deref(),
                sid: family.sid.as_deref(),
                transmitted_from: family.transmitted_from.as_deref(),
                user,
                rotate: record
                    .rotated_at
                    .is_none()
                    .then_some((hash.as_str(), now_ms)),
            },
        )
        .await
    }
}
