//! Which local user an upstream identity is: linked by an admin (`keyway user link`) or, for a
//! provider with `provision = "auto"`, created on first sign-in.

use keyway_store::{StoreError, UpstreamIdentityRecord, UserRecord};
use serde::Serialize;

use super::id_token::UpstreamClaims;
use super::{Provision, UpstreamProvider};
use crate::{AdminError, AuthService, ErrorCode, OAuthError, random_token};

/// A password hash no password matches: users made by an upstream sign-in have no password
/// (the password check treats an unparsable hash as a mismatch, at the same cost).
pub(crate) const NO_PASSWORD: &str = "!upstream";
/// Longest `sub` accepted (OpenID Connect Core §2).
const MAX_SUBJECT: usize = 255;

/// An identity linked to a user, as `keyway user show` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamIdentity {
    pub upstream: String,
    pub subject: String,
    pub created_at: i64,
}

/// Characters that print as nothing or reorder text (Unicode format characters, fillers and
/// blanks): a provider's claim must not make a username that looks like another one.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
}

/// A username made from an upstream claim: the hub's username rules (1–128 characters, no
/// spaces or control characters), leaving room for a suffix that makes it unique.
fn username_base(claim: Option<&str>, sub: &str) -> String {
    let source = claim.unwrap_or(sub);
    let mut base: String = source
        .trim()
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() || is_invisible(c) {
                '_'
            } else {
                c
            }
        })
        .take(100)
        .collect();
    if base.is_empty() {
        base = "user".into();
    }
    base
}

fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() || subject.len() > MAX_SUBJECT || subject.chars().any(char::is_control) {
        return Err("subject must be 1–255 bytes without control characters".into());
    }
    Ok(())
}

impl AuthService {
    /// The local user of an identity the provider vouched for, creating one when the provider
    /// provisions automatically. Link-only providers refuse unlinked identities.
    pub(crate) async fn upstream_user(
        &self,
        provider: &UpstreamProvider,
        claims: &UpstreamClaims,
    ) -> Result<UserRecord, OAuthError> {
        if let Some(user) = self.linked_user(&provider.name, &claims.sub).await? {
            if user.disabled_at.is_some() {
                return Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    "this account is disabled at this hub",
                ));
            }
            return Ok(user);
        }
        if provider.provision == Provision::LinkOnly {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                format!(
                    "your {} account is not linked to a user of this hub (only accounts an \
                     administrator linked may sign in here); give the administrator your \
                     subject {:?}",
                    provider.display_name, claims.sub
                ),
            ));
        }
        let base = username_base(claims.username.as_deref(), &claims.sub);
        let now = self.clock.now_secs();
        for attempt in 0..12 {
            let username = match attempt {
                0 => base.clone(),
                1..=8 => format!("{base}-{}", attempt + 1),
                _ => format!("{base}-{}", random_token(self.entropy.as_ref(), 6)),
            };
            let user = UserRecord {
                user_id: random_token(self.entropy.as_ref(), 16),
                username,
                password_hash: NO_PASSWORD.into(),
                created_at: now,
                profile: keyway_store::UserProfile::default(),
                disabled_at: None,
            };
            let identity = UpstreamIdentityRecord {
                upstream: provider.name.clone(),
                subject: claims.sub.clone(),
                user_id: user.user_id.clone(),
                created_at: now,
            };
            match self.store.insert_user_with_identity(&user, &identity).await {
                Ok(()) => {
                    tracing::info!(upstream = %provider.name, username = %user.username, "user provisioned by upstream sign-in");
                    return Ok(user);
                }
                Err(StoreError::Conflict(what)) if what == "user" => continue,
                // A parallel first sign-in of the same person won: use its user.
                Err(StoreError::Conflict(_)) => {
                    return self
                        .linked_user(&provider.name, &claims.sub)
                        .await?
                        .ok_or_else(|| OAuthError::server_error("upstream identity vanished"));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(OAuthError::server_error(
            "no free username for the new upstream user",
        ))
    }

    async fn linked_user(
        &self,
        upstream: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, OAuthError> {
        let Some(user_id) = self.store.upstream_identity_user(upstream, subject).await? else {
            return Ok(None);
        };
        Ok(self.store.user_by_id(&user_id).await?)
    }

    /// `keyway user link`: lets the identity (`upstream`, `subject`) sign in as `username`.
    pub async fn link_upstream_identity(
        &self,
        username: &str,
        upstream: &str,
        subject: &str,
    ) -> Result<(), AdminError> {
        if !super::valid_login_type_name(upstream) || upstream == super::PASSWORD {
            return Err(AdminError::Invalid(format!(
                "--upstream {upstream:?}: an upstream provider's name ([a-z0-9_-]{{1,32}}, not \
                 password)"
            )));
        }
        check_subject(subject).map_err(|e| AdminError::Invalid(format!("--subject: {e}")))?;
        let user = self
            .store
            .user_by_name(username)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("user {username}")))?;
        let record = UpstreamIdentityRecord {
            upstream: upstream.to_string(),
            subject: subject.to_string(),
            user_id: user.user_id,
            created_at: self.clock.now_secs(),
        };
        match self.store.insert_upstream_identity(&record).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(AdminError::Conflict(format!(
                "{upstream} subject {subject:?} is already linked to a user (one user per \
                 upstream identity)"
            ))),
            Err(other) => Err(other.into()),
        }
    }

    /// The upstream identities linked to `username`.
    pub async fn upstream_identities(
        &self,
        username: &str,
    ) -> Result<Vec<UpstreamIdentity>, AdminError> {
        let user = self.user_named(username).await?;
        Ok(self
            .store
            .upstream_identities_of(&user.user_id)
            .await?
            .into_iter()
            .map(|r| UpstreamIdentity {
                upstream: r.upstream,
                subject: r.subject,
                created_at: r.created_at,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        assert_eq!(username_base(Some("ada"), "s"), "ada");
        assert_eq!(username_base(Some(" a b\u{7}"), "s"), "a_b_");
        assert_eq!(username_base(None, "sub-1"), "sub-1");
        assert_eq!(username_base(Some("   "), "s"), "user");
        assert_eq!(username_base(Some(&"x".repeat(300)), "s").len(), 100);
        // Nothing invisible or reordering: no look-alike of another username.
        assert_eq!(username_base(Some("ad\u{200B}min"), "s"), "ad_min");
        assert_eq!(username_base(Some("\u{2066}admin\u{2069}"), "s"), "_admin_");
        assert_eq!(
            username_base(Some("admin\u{202E}gpj.exe"), "s"),
            "admin_gpj.exe"
        );
        assert_eq!(username_base(Some("\u{3164}"), "s"), "_");
    }
}
