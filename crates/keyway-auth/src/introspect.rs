//! RFC 7662 introspection and RFC 7009 revocation.

use std::sync::Arc;

use serde::Serialize;

use crate::tokens::{AccessTokenClaims, Audience};
use crate::{AuthService, Client, ErrorCode, OAuthError, sha256_hex};

/// An introspection answer. Inactive tokens carry nothing but `active: false`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The key a DPoP-bound token is bound to (RFC 9449 §6.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::Confirmation>,
    /// The client acting for the user (RFC 8693 §4.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<crate::tokens::Actor>,
    /// The client that handed the user over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transmitted_from: Option<String>,
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

impl AuthService {
    /// Introspects a token for an authenticated, confidential client.
    pub async fn introspect(
        &self,
        caller: &Client,
        token: &str,
    ) -> Result<Introspection, OAuthError> {
        if caller.public {
            return Err(OAuthError::unauthorized_client(
                "public clients may not introspect tokens",
            ));
        }
        if looks_like_jwt(token) {
            return Ok(match self.active_access_token(token).await? {
                Some(claims) => Introspection {
                    active: true,
                    scope: Some(claims.scope.clone()),
                    client_id: Some(claims.client_id.clone()),
                    username: claims.username.clone(),
                    token_type: Some(if claims.cnf.is_some() {
                        "DPoP"
                    } else {
                        "Bearer"
                    }),
                    exp: Some(claims.exp),
                    iat: Some(claims.iat),
                    sub: Some(claims.sub.clone()),
                    aud: Some(claims.aud.clone()),
                    iss: Some(claims.iss.clone()),
                    jti: Some(claims.jti.clone()),
                    cnf: claims.cnf.clone(),
                    act: claims.act.clone(),
                    transmitted_from: claims.transmitted_from.clone(),
                },
                None => Introspection::default(),
            });
        }
        let now = self.clock.now_secs();
        let now_ms = self.clock.now_ms();
        let Some(record) = self.store.refresh_token(&sha256_hex(token)).await? else {
            return Ok(Introspection::default());
        };
        // A refresh token is only ever presented by the client it was issued to; anyone else
        // learns nothing about it (RFC 7662 §2.2 leaves the choice to the server).
        if record.client_id != caller.client_id {
            return Ok(Introspection::default());
        }
        let rotated_out = record
            .rotated_at
            .is_some_and(|at| now_ms - at > self.config.refresh_grace_ms);
        let family = self.store.token_family(&record.family_id).await?;
        let Some(family) = family.filter(|f| f.revoked_at.is_none()) else {
            return Ok(Introspection::default());
        };
        if record.expires_at <= now || rotated_out {
            return Ok(Introspection::default());
        }
        let username = self
            .store
            .user_by_id(&family.user_id)
            .await?
            .map(|u| u.username);
        Ok(Introspection {
            active: true,
            scope: Some(record.scope),
            client_id: Some(record.client_id),
            username,
            token_type: Some("refresh_token"),
            exp: Some(record.expires_at),
            iat: Some(record.created_at),
            sub: Some(family.user_id),
            aud: None,
            iss: Some(self.config.issuer.clone()),
            jti: None,
            cnf: None,
            act: None,
            transmitted_from: None,
        })
    }

    /// An access token that verifies, is unrevoked, and whose client still exists, with its
    /// scopes narrowed to those the client still has.
    pub async fn active_access_token(
        &self,
        token: &str,
    ) -> Result<Option<Arc<AccessTokenClaims>>, OAuthError> {
        let Some(claims) = self.verify_access_token(token) else {
            return Ok(None);
        };
        let Some(client) = self.client(&claims.client_id).await? else {
            return Ok(None);
        };
        // A scope taken from the client since (`keyway client update`) opens nothing more,
        // within the client cache's second, though the signed token still names it.
        let mut scopes = claims.scope.split(' ').filter(|s| !s.is_empty());
        if scopes.any(|s| !client.scopes.contains(s)) {
            let mut narrowed = (*claims).clone();
            narrowed.scope = claims
                .scope
                .split(' ')
                .filter(|s| client.scopes.contains(s))
                .collect::<Vec<_>>()
                .join(" ");
            return Ok(Some(Arc::new(narrowed)));
        }
        Ok(Some(claims))
    }

    /// RFC 7009: revokes an access token (by `jti`) or a refresh token (its whole family).
    /// Unknown tokens are not an error (§2.2). A client may only revoke its own tokens.
    pub async fn revoke(
        &self,
        caller: &Client,
        token: &str,
        hint: Option<&str>,
    ) -> Result<(), OAuthError> {
        if let Some(hint) = hint
            && !matches!(hint, "access_token" | "refresh_token")
        {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedTokenType,
                format!("token_type_hint {hint:?} is not supported"),
            ));
        }
        let now = self.clock.now_secs();
        if looks_like_jwt(token) {
            // A token of another client is answered as an unknown one (RFC 7009 §2.2): 200,
            // nothing revoked, and nothing learnt about the token's validity.
            if let Some(claims) = self.verify_access_token(token)
                && claims.client_id == caller.client_id
            {
                self.store
                    .revoke_access_token(&claims.jti, claims.exp)
                    .await?;
                self.revoked.insert(&claims.jti);
            }
            return Ok(());
        }
        if let Some(record) = self.store.refresh_token(&sha256_hex(token)).await?
            && record.client_id == caller.client_id
        {
            self.store.revoke_family(&record.family_id, now).await?;
            self.reload_revocations_soon().await;
        }
        Ok(())
    }
}
