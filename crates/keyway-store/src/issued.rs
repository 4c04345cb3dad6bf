//! Recording what one token response issued — the refresh token, the rotation of the one it
//! replaces, and (without a refresh token) the access token in its family — as one write. On
//! SQLite the statements go to the group-commit writer as one multi-statement query: one trip
//! to SQLite's single writer. Access tokens minted in a family carry it in their `jti`, and a
//! revoked family is one deny-list marker (`grants.rs`), so with a refresh token the access
//! token needs no row of its own: every refresh then writes one random-key row fewer, which is
//! what bounds refresh grants per second on SQLite (its WAL writes).

use crate::dynamic::DynValue;
use crate::{RefreshTokenRecord, Store, StoreError};

/// What one token response issued.
#[derive(Debug, Clone, Copy)]
pub struct Issued<'a> {
    pub family_id: &'a str,
    /// The access token's `jti` and expiry.
    pub access_jti: &'a str,
    pub access_expires_at: i64,
    pub refresh: Option<&'a RefreshTokenRecord>,
    /// A refresh token to mark rotated (its digest, the time in ms), if not rotated already.
    pub rotate: Option<(&'a str, i64)>,
}

/// Only if the family is live: a token of a family revoked meanwhile is not recorded (and so
/// must not be issued).
const ACCESS: &str = "INSERT INTO family_access_tokens (jti, family_id, expires_at) \
     SELECT ?, ?, ? FROM token_families WHERE family_id = ? AND revoked_at IS NULL";
const REFRESH: &str = "INSERT INTO refresh_tokens (token_hash, family_id, client_id, scope, \
     created_at, expires_at, rotated_at) \
     SELECT ?, ?, ?, ?, ?, ?, NULL FROM token_families WHERE family_id = ? AND revoked_at IS NULL";
/// The rotation of the refresh token this answer replaces, only while the family is live (a
/// revoked family's refresh tokens are deleted anyway), so that rows affected say it was.
const ROTATE_IF_LIVE: &str = "UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? \
     AND rotated_at IS NULL AND EXISTS (SELECT 1 FROM token_families \
     WHERE family_id = ? AND revoked_at IS NULL)";

impl Store {
    /// Records what a token response issued; false (and nothing of it recorded) when the
    /// family was revoked meanwhile. Whether this request or a concurrent one rotated the old
    /// token first, the answer stands.
    pub async fn record_issued(&self, issued: &Issued<'_>) -> Result<bool, StoreError> {
        if let Some(group) = self.group_commit()
            && let Some(token) = issued.refresh
        {
            // The refresh token (only while the family is live) and the rotation (likewise),
            // as one query: SQLite runs them back to back on its one writer, so both see the
            // same family row, and rows affected is 0 exactly when it was revoked.
            let mut sql = String::from(REFRESH);
            let mut values = vec![
                DynValue::Text(token.token_hash.clone()),
                DynValue::Text(token.family_id.clone()),
                DynValue::Text(token.client_id.clone()),
                DynValue::Text(token.scope.clone()),
                DynValue::Int(token.created_at),
                DynValue::Int(token.expires_at),
                DynValue::Text(issued.family_id.to_string()),
            ];
            if let Some((hash, now_ms)) = issued.rotate {
                sql.push_str("; ");
                sql.push_str(ROTATE_IF_LIVE);
                values.extend([
                    DynValue::Int(now_ms),
                    DynValue::Text(hash.to_string()),
                    DynValue::Text(issued.family_id.to_string()),
                ]);
            }
            return Ok(group.execute(sql, values).await? >= 1);
        }
        if let Some(group) = self.group_commit()
            && issued.rotate.is_none()
        {
            // No refresh token (a code exchange for a client without the refresh grant): the
            // access token's record is the live check.
            let changed = group
                .execute(
                    ACCESS.to_string(),
                    vec![
                        DynValue::Text(issued.access_jti.to_string()),
                        DynValue::Text(issued.family_id.to_string()),
                        DynValue::Int(issued.access_expires_at),
                        DynValue::Text(issued.family_id.to_string()),
                    ],
                )
                .await?;
            return Ok(changed == 1);
        }
        let rotate = async {
            match issued.rotate {
                Some((hash, now_ms)) => self.mark_refresh_rotated(hash, now_ms).await.map(|_| ()),
                None => Ok(()),
            }
        };
        let access = self.insert_family_access_token(
            issued.access_jti,
            issued.family_id,
            issued.access_expires_at,
        );
        let refresh = async {
            match issued.refresh {
                Some(token) => self.insert_refresh_token(token).await,
                None => Ok(()),
            }
        };
        let (rotated, live, stored) = tokio::join!(rotate, access, refresh);
        rotated?;
        stored?;
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn family_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        for sql in [
            "INSERT INTO token_families (family_id, client_id, user_id, scope, resources, \
             auth_time, created_at) VALUES ('live', 'c', 'u', 's', '', 0, 0)",
            "INSERT INTO token_families (family_id, client_id, user_id, scope, resources, \
             auth_time, created_at, revoked_at) VALUES ('dead', 'c', 'u', 's', '', 0, 0, 1)",
        ] {
            store.dyn_execute(sql, &[]).await.unwrap();
        }
        (dir, store)
    }

    fn refresh(hash: &str, family: &str) -> RefreshTokenRecord {
        RefreshTokenRecord {
            token_hash: hash.into(),
            family_id: family.into(),
            client_id: "c".into(),
            scope: "s".into(),
            created_at: 0,
            expires_at: 100,
            rotated_at: None,
        }
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        let rows = store
            .dyn_fetch(sql, &[], &[crate::ColumnKind::Int])
            .await
            .unwrap();
        match rows[0][0] {
            DynValue::Int(n) => n,
            _ => panic!("not a count"),
        }
    }

    /// The multi-statement write records a live family's refresh token and rotation (the
    /// access token needs no row: its `jti` names the family), nothing for a revoked one, and
    /// says which.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_write_records_a_live_familys_tokens_and_nothing_of_a_revoked_one() {
        let (_dir, store) = family_store().await;
        let old = refresh("old", "live");
        store.insert_refresh_token(&old).await.unwrap();
        let new = refresh("new", "live");
        let live = Issued {
            family_id: "live",
            access_jti: "j1",
            access_expires_at: 50,
            refresh: Some(&new),
            rotate: Some(("old", 7)),
        };
        assert!(store.record_issued(&live).await.unwrap());
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM family_access_tokens").await,
            0
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = 'new'"
            )
            .await,
            1
        );
        assert_eq!(
            count(
                &store,
                "SELECT rotated_at FROM refresh_tokens WHERE token_hash = 'old'"
            )
            .await,
            7
        );
        // Rotated already (a concurrent duplicate inside the grace window): still recorded.
        let again = refresh("newer", "live");
        let second = Issued {
            access_jti: "j2",
            refresh: Some(&again),
            ..live
        };
        assert!(store.record_issued(&second).await.unwrap());

        let orphan = refresh("orphan", "dead");
        let dead = Issued {
            family_id: "dead",
            access_jti: "j3",
            access_expires_at: 50,
            refresh: Some(&orphan),
            rotate: None,
        };
        assert!(!store.record_issued(&dead).await.unwrap());
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM refresh_tokens WHERE family_id = 'dead'"
            )
            .await,
            0
        );
        // Without a refresh token (a client without the refresh grant).
        let bare = Issued {
            family_id: "live",
            access_jti: "j4",
            access_expires_at: 50,
            refresh: None,
            rotate: None,
        };
        assert!(store.record_issued(&bare).await.unwrap());
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM family_access_tokens").await,
            1
        );
        // A revoked family is one marker on the deny-list, whatever it issued.
        assert!(store.revoke_family("live", 10).await.unwrap());
        let denied = store.revoked_access_tokens(10).await.unwrap();
        assert!(denied.contains(&crate::family_marker("live")), "{denied:?}");
        assert!(denied.contains(&"j4".to_string()), "{denied:?}");
        store.close().await;
    }
}

#[cfg(test)]
mod marker_tests {
    /// Lowering the access-token lifetime does not shorten a revoked family's deny-list
    /// entry: tokens issued under the longer lifetime are still out there (the store keeps
    /// the longest lifetime ever configured).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_family_marker_outlives_tokens_issued_under_a_longer_lifetime() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = crate::Store::open(&url).await.unwrap();
        store
            .dyn_execute(
                "INSERT INTO token_families (family_id, client_id, user_id, scope, resources, \
                 auth_time, created_at) VALUES ('fam', 'c', 'u', 's', '', 0, 0)",
                &[],
            )
            .await
            .unwrap();
        let two_days = 172_800;
        assert_eq!(
            store.longest_access_token_ttl(two_days).await.unwrap(),
            two_days
        );
        // Restarted with an hour: the longest stays.
        let longest = store.longest_access_token_ttl(3_600).await.unwrap();
        assert_eq!(longest, two_days);
        store.set_access_token_ttl(longest);
        assert!(store.revoke_family("fam", 10).await.unwrap());
        let marker = crate::family_marker("fam");
        let still = store
            .revoked_access_tokens(10 + two_days - 1)
            .await
            .unwrap();
        assert!(still.contains(&marker), "{still:?}");
        store.close().await;
    }
}
