//! Groups of users (`keyway group …`). The built-in group [`ADMINS`] holds the hub's
//! administrators: only they see the activity map through a login session.

use serde::Serialize;

use crate::{AdminError, AuthService};

/// The hub's administrators.
pub const ADMINS: &str = "keyway-admins";

/// A group as `keyway group show|list` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupInfo {
    pub name: String,
    pub members: Vec<String>,
    /// Scopes granted to the group (every member holds them).
    pub scopes: Vec<String>,
    pub created_at: i64,
}

/// Group names: 1–64 of `a–z 0–9 _ - .`, starting with a letter or digit.
pub(crate) fn check_name(name: &str) -> Result<(), AdminError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "group name {name:?}: 1–64 of a–z 0–9 _ - ., starting with a letter or digit"
        )))
    }
}

pub(crate) fn no_such_group(name: &str) -> AdminError {
    AdminError::NotFound(format!(
        "group {name:?} (`keyway group list` shows them; `keyway group create {name}` makes it)"
    ))
}

impl AuthService {
    pub async fn create_group(&self, name: &str) -> Result<GroupInfo, AdminError> {
        check_name(name)?;
        let now = self.clock.now_secs();
        let id = crate::random_token(self.entropy(), 16);
        match self.store.insert_group(name, &id, now).await {
            Ok(()) => {}
            Err(keyway_store::StoreError::Conflict(_)) => {
                return Err(AdminError::Conflict(format!(
                    "group {name:?} exists already"
                )));
            }
            Err(err) => return Err(err.into()),
        }
        self.audit_change("group.create", name, None).await;
        self.show_group(name).await
    }

    pub async fn delete_group(&self, name: &str) -> Result<(), AdminError> {
        if self.store.delete_group(name).await? {
            self.audit_change("group.delete", name, None).await;
            Ok(())
        } else {
            Err(no_such_group(name))
        }
    }

    pub async fn list_groups(&self) -> Result<Vec<GroupInfo>, AdminError> {
        let mut groups = Vec::new();
        for g in self.store.groups().await? {
            let scopes = self
                .store
                .granted_scopes(keyway_store::GrantHolder::Group(&g.name))
                .await?;
            groups.push(GroupInfo {
                name: g.name,
                members: g.members,
                scopes,
                created_at: g.created_at,
            });
        }
        Ok(groups)
    }

    pub async fn show_group(&self, name: &str) -> Result<GroupInfo, AdminError> {
        let group = self
            .store
            .group(name)
            .await?
            .ok_or_else(|| no_such_group(name))?;
        let scopes = self
            .store
            .granted_scopes(keyway_store::GrantHolder::Group(name))
            .await?;
        Ok(GroupInfo {
            name: group.name,
            members: group.members,
            scopes,
            created_at: group.created_at,
        })
    }

    /// Adds `username` to `group`; false when they were a member already. The built-in
    /// [`ADMINS`] group is made on its first member.
    pub async fn add_group_member(&self, group: &str, username: &str) -> Result<bool, AdminError> {
        let now = self.clock.now_secs();
        if self.store.group(group).await?.is_none() {
            if group != ADMINS {
                return Err(no_such_group(group));
            }
            let id = crate::random_token(self.entropy(), 16);
            match self.store.insert_group(group, &id, now).await {
                Ok(()) | Err(keyway_store::StoreError::Conflict(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let user = self.user_record(username).await?;
        let added = self
            .store
            .insert_group_member(group, &user.user_id, now)
            .await?;
        if added {
            self.audit_change("group.add-member", group, Some(format!("user {username}")))
                .await;
        }
        Ok(added)
    }

    /// Takes `username` out of `group`; false when they were not a member.
    pub async fn remove_group_member(
        &self,
        group: &str,
        username: &str,
    ) -> Result<bool, AdminError> {
        if self.store.group(group).await?.is_none() {
            return Err(no_such_group(group));
        }
        let user = self.user_record(username).await?;
        let removed = self.store.delete_group_member(group, &user.user_id).await?;
        if removed {
            self.audit_change(
                "group.remove-member",
                group,
                Some(format!("user {username}")),
            )
            .await;
        }
        Ok(removed)
    }

    /// Whether the user is one of the hub's administrators.
    pub async fn is_admin(&self, user_id: &str) -> Result<bool, AdminError> {
        Ok(self.store.is_group_member(ADMINS, user_id).await?)
    }

    async fn user_record(&self, username: &str) -> Result<keyway_store::UserRecord, AdminError> {
        self.store.user_by_name(username).await?.ok_or_else(|| {
            AdminError::NotFound(format!("user {username:?} (`keyway user list` shows them)"))
        })
    }
}
