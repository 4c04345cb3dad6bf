//! Scopes users hold (issue 20, the Aliconnect rule: "give users read rights only by giving them
//! the scope contact.read"). A scope keyway.toml marks as user-granted (`[oauth]
//! user_granted_scopes`: exact names or `prefix*`) reaches a user's tokens only when the user
//! holds it — granted to them or to a group of theirs; every other scope (`openid`, `profile`…)
//! stays consentable by everyone, as before.

use keyway_store::GrantHolder;

use crate::{AdminError, AuthService, OAuthError, ScopeSet};

impl AuthService {
    /// Whether `scope` is one users must hold (a pattern of `user_granted_scopes` names it).
    pub fn is_user_granted(&self, scope: &str) -> bool {
        self.config
            .user_granted_scopes
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => scope.starts_with(prefix),
                None => pattern == scope,
            })
    }

    /// What of `requested` the user may have, and the user-granted scopes they do not hold
    /// (withheld), in scope order.
    pub(crate) async fn scopes_for_user(
        &self,
        user_id: &str,
        requested: &ScopeSet,
    ) -> Result<(ScopeSet, Vec<String>), OAuthError> {
        if self.config.user_granted_scopes.is_empty()
            || !requested.iter().any(|s| self.is_user_granted(s))
        {
            return Ok((requested.clone(), Vec::new()));
        }
        let held = self.store.user_held_scopes(user_id).await?;
        self.scopes_held(&held, requested)
    }

    /// As [`AuthService::scopes_for_user`], with the scopes the user holds read already.
    pub(crate) fn scopes_held(
        &self,
        held: &[String],
        requested: &ScopeSet,
    ) -> Result<(ScopeSet, Vec<String>), OAuthError> {
        let mut granted = Vec::new();
        let mut withheld = Vec::new();
        for scope in requested.iter() {
            if !self.is_user_granted(scope) || held.iter().any(|h| h == scope) {
                granted.push(scope);
            } else {
                withheld.push(scope.to_string());
            }
        }
        Ok((ScopeSet::parse(&granted.join(" "))?, withheld))
    }

    /// Grants scopes to a user (`keyway user grant`).
    pub async fn grant_user_scopes(&self, username: &str, scope: &str) -> Result<(), AdminError> {
        let user = self.user_by_username(username).await?;
        let scopes = scope_list(scope)?;
        let now = self.clock.now_secs();
        self.store
            .grant_scopes(GrantHolder::User(&user.user_id), &scopes, now)
            .await?;
        let what = format!("scope {}", scopes.join(" "));
        self.audit_change("user.grant", username, Some(what)).await;
        Ok(())
    }

    /// Takes scopes from a user (`keyway user revoke`); their next token or refresh lacks them.
    pub async fn revoke_user_scopes(&self, username: &str, scope: &str) -> Result<u64, AdminError> {
        let user = self.user_by_username(username).await?;
        let scopes = scope_list(scope)?;
        let taken = self
            .store
            .revoke_scopes(GrantHolder::User(&user.user_id), &scopes)
            .await?;
        let what = format!("scope {}", scopes.join(" "));
        self.audit_change("user.revoke", username, Some(what)).await;
        Ok(taken)
    }

    /// Grants scopes to every member of a group (`keyway group grant`).
    pub async fn grant_group_scopes(&self, group: &str, scope: &str) -> Result<(), AdminError> {
        self.show_group(group).await?;
        let now = self.clock.now_secs();
        let scopes = scope_list(scope)?;
        self.store
            .grant_scopes(GrantHolder::Group(group), &scopes, now)
            .await?;
        let what = format!("scope {}", scopes.join(" "));
        self.audit_change("group.grant", group, Some(what)).await;
        Ok(())
    }

    pub async fn revoke_group_scopes(&self, group: &str, scope: &str) -> Result<u64, AdminError> {
        self.show_group(group).await?;
        let scopes = scope_list(scope)?;
        let taken = self
            .store
            .revoke_scopes(GrantHolder::Group(group), &scopes)
            .await?;
        let what = format!("scope {}", scopes.join(" "));
        self.audit_change("group.revoke", group, Some(what)).await;
        Ok(taken)
    }

    /// The scopes granted to a user directly and the ones they hold in all.
    pub async fn user_scopes(
        &self,
        username: &str,
    ) -> Result<(Vec<String>, Vec<String>), AdminError> {
        let user = self.user_by_username(username).await?;
        let direct = self
            .store
            .granted_scopes(GrantHolder::User(&user.user_id))
            .await?;
        let mut held = self.store.user_held_scopes(&user.user_id).await?;
        held.sort();
        Ok((direct, held))
    }

    pub async fn group_scopes(&self, group: &str) -> Result<Vec<String>, AdminError> {
        Ok(self.store.granted_scopes(GrantHolder::Group(group)).await?)
    }

    async fn user_by_username(
        &self,
        username: &str,
    ) -> Result<keyway_store::UserRecord, AdminError> {
        self.store.user_by_name(username).await?.ok_or_else(|| {
            AdminError::NotFound(format!("user {username} (`keyway user list` shows them)"))
        })
    }
}

/// Bounds on one grant: scopes are carried in every token of the user.
const MAX_SCOPES_PER_GRANT: usize = 64;
const MAX_SCOPE_LEN: usize = 128;

/// Scope tokens of a command-line value (spaces or commas separate), checked.
fn scope_list(scope: &str) -> Result<Vec<String>, AdminError> {
    let set = ScopeSet::parse(&scope.replace(',', " "))
        .map_err(|e| AdminError::Invalid(format!("--scope {scope:?}: {}", e.description)))?;
    if set.is_empty() {
        return Err(AdminError::Invalid("--scope names no scope".into()));
    }
    if set.iter().count() > MAX_SCOPES_PER_GRANT || set.iter().any(|s| s.len() > MAX_SCOPE_LEN) {
        return Err(AdminError::Invalid(format!(
            "--scope: at most {MAX_SCOPES_PER_GRANT} scopes of at most {MAX_SCOPE_LEN} characters"
        )));
    }
    Ok(set.iter().map(str::to_string).collect())
}
