//! Authorization requests, codes, token families, refresh tokens and access-token revocation.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Backend, ColumnKind, DynValue, Store, StoreError};

/// A pending `/authorize` request, kept while the user logs in and consents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequestRecord {
    pub request_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The OIDC `prompt` values asked for (space-separated), e.g. `consent`.
    pub prompt: Option<String>,
    pub code_challenge: String,
    /// Space-separated RFC 8707 resource indicators.
    pub resources: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The response mode asked for (`None`: `query`), e.g. `query.jwt` (JARM).
    pub response_mode: Option<String>,
    /// What a signed (g2d1) request carries through the flow, as JSON (keyway-auth reads it).
    pub extra: Option<String>,
    /// Before sign-in the login type asked for (`type`, `None`: any the client allows); after,
    /// how the user signed in (`password` or an upstream provider's name).
    pub login_method: Option<String>,
    /// The DPoP key (RFC 7638 thumbprint) the code will be bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// The signed-in user's login session (its public id, the ID token's `sid`).
    pub sid: Option<String>,
}

/// An issued authorization code (stored by digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCodeRecord {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub resources: String,
    pub auth_time: i64,
    /// The token family the code's tokens will belong to, so a replayed code can revoke them.
    pub family_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// How the user signed in (`password` or an upstream's name; `None` before migration 8).
    pub login_method: Option<String>,
    /// Only a DPoP proof by this key redeems the code (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// The login session the code was issued in (the ID token's `sid`).
    pub sid: Option<String>,
    /// The client that handed the user over (`POST /oauth2/transmit`); such a code has no
    /// PKCE challenge (its client did not start the flow).
    pub transmitted_from: Option<String>,
}

/// A chain of refresh tokens that descend from one authorization (RFC 9700 §4.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFamilyRecord {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub resources: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The DPoP key thumbprint the family's refresh tokens are bound to (public clients).
    pub dpop_jkt: Option<String>,
    /// How the user signed in (`password` or an upstream's name), for refreshed ID tokens.
    pub login_method: Option<String>,
    /// The login session it was issued in: ending the session notifies the client
    /// (back-channel logout) and revokes the family unless it has `offline_access`.
    pub sid: Option<String>,
    /// The client that handed the user over, for the tokens' `transmitted_from`.
    pub transmitted_from: Option<String>,
}

/// One refresh token of a family (stored by digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub family_id: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
}

const REQUEST_COLUMNS: &str = "request_id, client_id, redirect_uri, scope, state, nonce, \
     prompt, code_challenge, resources, user_id, auth_time, created_at, expires_at, \
     response_mode, extra, login_method, dpop_jkt, sid";
const CODE_COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, scope, nonce, \
     code_challenge, resources, auth_time, family_id, created_at, expires_at, used_at, \
     login_method, dpop_jkt, sid, transmitted_from";
const FAMILY_COLUMNS: &str = "family_id, client_id, user_id, scope, resources, auth_time, \
     created_at, revoked_at, dpop_jkt, login_method, sid, transmitted_from";
const REFRESH_COLUMNS: &str =
    "token_hash, family_id, client_id, scope, created_at, expires_at, rotated_at";

fn request_from_row(row: &AnyRow) -> Result<AuthorizationRequestRecord, StoreError> {
    Ok(AuthorizationRequestRecord {
        request_id: row.try_get("request_id")?,
        client_id: row.try_get("client_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        state: row.try_get("state")?,
        nonce: row.try_get("nonce")?,
        prompt: row.try_get("prompt")?,
        code_challenge: row.try_get("code_challenge")?,
        resources: row.try_get("resources")?,
        user_id: row.try_get("user_id")?,
        auth_time: row.try_get("auth_time")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        response_mode: row.try_get("response_mode")?,
        extra: row.try_get("extra")?,
        login_method: row.try_get("login_method")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
        sid: row.try_get("sid")?,
    })
}

fn code_from_row(row: &AnyRow) -> Result<AuthorizationCodeRecord, StoreError> {
    Ok(AuthorizationCodeRecord {
        code_hash: row.try_get("code_hash")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        nonce: row.try_get("nonce")?,
        code_challenge: row.try_get("code_challenge")?,
        resources: row.try_get("resources")?,
        auth_time: row.try_get("auth_time")?,
        family_id: row.try_get("family_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        login_method: row.try_get("login_method")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
        sid: row.try_get("sid")?,
        transmitted_from: row.try_get("transmitted_from")?,
    })
}

fn family_from_row(row: &AnyRow) -> Result<TokenFamilyRecord, StoreError> {
    Ok(TokenFamilyRecord {
        family_id: row.try_get("family_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        scope: row.try_get("scope")?,
        resources: row.try_get("resources")?,
        auth_time: row.try_get("auth_time")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        dpop_jkt: row.try_get("dpop_jkt")?,
        login_method: row.try_get("login_method")?,
        sid: row.try_get("sid")?,
        transmitted_from: row.try_get("transmitted_from")?,
    })
}

fn refresh_from_row(row: &AnyRow) -> Result<RefreshTokenRecord, StoreError> {
    Ok(RefreshTokenRecord {
        token_hash: row.try_get("token_hash")?,
        family_id: row.try_get("family_id")?,
        client_id: row.try_get("client_id")?,
        scope: row.try_get("scope")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        rotated_at: row.try_get("rotated_at")?,
    })
}

/// What a refresh grant reads in one query: the token, its family (`None`: gone), and the
/// family's user (`None`: deleted).
#[derive(Debug, Clone)]
pub struct RefreshGrantRows {
    pub token: RefreshTokenRecord,
    pub family: Option<TokenFamilyRecord>,
    pub user: Option<crate::UserRecord>,
    /// The scopes the user holds (with duplicates), when asked for.
    pub held_scopes: Option<Vec<String>>,
}

impl Store {
    pub async fn insert_authorization_request(
        &self,
        req: &AuthorizationRequestRecord,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO authorization_requests ({REQUEST_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(self.sql(&sql))
            .bind(&req.request_id)
            .bind(&req.client_id)
            .bind(&req.redirect_uri)
            .bind(&req.scope)
            .bind(&req.state)
            .bind(&req.nonce)
            .bind(&req.prompt)
            .bind(&req.code_challenge)
            .bind(&req.resources)
            .bind(&req.user_id)
            .bind(req.auth_time)
            .bind(req.created_at)
            .bind(req.expires_at)
            .bind(&req.response_mode)
            .bind(&req.extra)
            .bind(&req.login_method)
            .bind(&req.dpop_jkt)
            .bind(&req.sid)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn authorization_request(
        &self,
        request_id: &str,
    ) -> Result<Option<AuthorizationRequestRecord>, StoreError> {
        let sql =
            format!("SELECT {REQUEST_COLUMNS} FROM authorization_requests WHERE request_id = ?");
        let row = sqlx::query(self.sql(&sql))
            .bind(request_id)
            .fetch_optional(self.writer())
            .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// Records who logged in for a pending request.
    pub async fn set_authorization_request_user(
        &self,
        request_id: &str,
        user_id: &str,
        auth_time: i64,
        login_method: &str,
        sid: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE authorization_requests SET user_id = ?, auth_time = ?, login_method = ?, \
             sid = ? WHERE request_id = ?",
        ))
        .bind(user_id)
        .bind(auth_time)
        .bind(login_method)
        .bind(sid)
        .bind(request_id)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes a pending request away (it is answered once: allow, deny or expiry).
    pub async fn delete_authorization_request(&self, request_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql("DELETE FROM authorization_requests WHERE request_id = ?"))
            .bind(request_id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_authorization_code(
        &self,
        code: &AuthorizationCodeRecord,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO authorization_codes ({CODE_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(self.sql(&sql))
            .bind(&code.code_hash)
            .bind(&code.client_id)
            .bind(&code.user_id)
            .bind(&code.redirect_uri)
            .bind(&code.scope)
            .bind(&code.nonce)
            .bind(&code.code_challenge)
            .bind(&code.resources)
            .bind(code.auth_time)
            .bind(&code.family_id)
            .bind(code.created_at)
            .bind(code.expires_at)
            .bind(code.used_at)
            .bind(&code.login_method)
            .bind(&code.dpop_jkt)
            .bind(&code.sid)
            .bind(&code.transmitted_from)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn authorization_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<AuthorizationCodeRecord>, StoreError> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = ?");
        let row = sqlx::query(self.sql(&sql))
            .bind(code_hash)
            .fetch_optional(self.writer())
            .await?;
        row.as_ref().map(code_from_row).transpose()
    }

    /// Marks a code used. Returns false when it was already used: the caller then treats the
    /// request as a replay. The check and the mark are one statement, so two racing
    /// redemptions cannot both win.
    pub async fn mark_code_used(&self, code_hash: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(self.sql(
            "UPDATE authorization_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL",
        ))
        .bind(now)
        .bind(code_hash)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_token_family(&self, family: &TokenFamilyRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO token_families ({FAMILY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(self.sql(&sql))
            .bind(&family.family_id)
            .bind(&family.client_id)
            .bind(&family.user_id)
            .bind(&family.scope)
            .bind(&family.resources)
            .bind(family.auth_time)
            .bind(family.created_at)
            .bind(family.revoked_at)
            .bind(&family.dpop_jkt)
            .bind(&family.login_method)
            .bind(&family.sid)
            .bind(&family.transmitted_from)
            .execute(self.writer())
            .await
            .map_err(|err| StoreError::conflict_or(err, "token family"))?;
        Ok(())
    }

    pub async fn token_family(
        &self,
        family_id: &str,
    ) -> Result<Option<TokenFamilyRecord>, StoreError> {
        let sql = format!("SELECT {FAMILY_COLUMNS} FROM token_families WHERE family_id = ?");
        // A reader: whatever it reads is checked again by the write that acts on it
        // (insert_family_access_token locks the family), so it may not hold up the writer.
        let row = sqlx::query(self.sql(&sql))
            .bind(family_id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(family_from_row).transpose()
    }

    pub async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        let sql =
            format!("INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)");
        if let Some(group) = self.group_commit() {
            group
                .execute(
                    sql,
                    vec![
                        DynValue::Text(token.token_hash.clone()),
                        DynValue::Text(token.family_id.clone()),
                        DynValue::Text(token.client_id.clone()),
                        DynValue::Text(token.scope.clone()),
                        DynValue::Int(token.created_at),
                        DynValue::Int(token.expires_at),
                        token
                            .rotated_at
                            .map_or(DynValue::Null(ColumnKind::Int), DynValue::Int),
                    ],
                )
                .await?;
            return Ok(());
        }
        sqlx::query(self.sql(&sql))
            .bind(&token.token_hash)
            .bind(&token.family_id)
            .bind(&token.client_id)
            .bind(&token.scope)
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.rotated_at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = ?");
        // A reader, as token_family: rotation is decided by mark_refresh_rotated's write.
        let row = sqlx::query(self.sql(&sql))
            .bind(token_hash)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(refresh_from_row).transpose()
    }

    /// A refresh token and its family in one read (the refresh grant needs both).
    pub async fn refresh_token_with_family(
        &self,
        token_hash: &str,
        with_held_scopes: bool,
    ) -> Result<Option<RefreshGrantRows>, StoreError> {
        // One read for the whole refresh grant: the token, its family, the family's user and,
        // when asked, the scopes the user holds (directly, and through groups) as
        // space-separated lists (scope tokens have no spaces). MariaDB/MySQL cap GROUP_CONCAT
        // at group_concat_max_len, so there they are read by a second query.
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        static SQL_HELD_SQLITE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        static SQL_HELD_POSTGRES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let select = |held: &str| {
            format!(
                "SELECT r.token_hash, r.family_id, r.client_id AS r_client_id, \
                 r.scope AS r_scope, r.created_at AS r_created_at, r.expires_at, r.rotated_at, \
                 f.family_id AS f_family_id, f.client_id, f.user_id, f.scope, f.resources, \
                 f.auth_time, f.created_at, f.revoked_at, f.dpop_jkt, f.login_method, f.sid, \
                 f.transmitted_from, \
                 {}{held} \
                 FROM refresh_tokens r LEFT JOIN token_families f ON f.family_id = r.family_id \
                 LEFT JOIN users u ON u.user_id = f.user_id \
                 WHERE r.token_hash = ?",
                crate::users::PREFIXED_USER_COLUMNS
            )
        };
        let held_columns = |aggregate: &str| {
            format!(
                ", (SELECT {aggregate} FROM scope_grants g WHERE g.holder_kind = 'user' \
                 AND g.holder = f.user_id) AS held_user, \
                 (SELECT {aggregate} FROM group_members m JOIN scope_grants g \
                 ON g.holder_kind = 'group' AND g.holder = m.group_name \
                 WHERE m.user_id = f.user_id) AS held_groups"
            )
        };
        let folded = with_held_scopes && self.backend() != crate::Backend::Mysql;
        let sql =
            match (folded, self.backend()) {
                (true, crate::Backend::Postgres) => SQL_HELD_POSTGRES
                    .get_or_init(|| select(&held_columns("string_agg(g.scope, ' ')"))),
                (true, _) => SQL_HELD_SQLITE
                    .get_or_init(|| select(&held_columns("group_concat(g.scope, ' ')"))),
                (false, _) => SQL.get_or_init(|| select("")),
            };
        let Some(row) = sqlx::query(self.sql(sql))
            .bind(token_hash)
            .fetch_optional(self.reader())
            .await?
        else {
            return Ok(None);
        };
        let token = RefreshTokenRecord {
            token_hash: row.try_get("token_hash")?,
            family_id: row.try_get("family_id")?,
            client_id: row.try_get("r_client_id")?,
            scope: row.try_get("r_scope")?,
            created_at: row.try_get("r_created_at")?,
            expires_at: row.try_get("expires_at")?,
            rotated_at: row.try_get("rotated_at")?,
        };
        let family = match row.try_get::<Option<String>, _>("f_family_id")? {
            Some(_) => Some(family_from_row(&row)?),
            None => None,
        };
        let user = match row.try_get::<Option<String>, _>("u_user_id")? {
            Some(_) => Some(crate::users::from_row_as(&row, &crate::users::PREFIXED)?),
            None => None,
        };
        let held_scopes = if folded {
            let mut held = Vec::new();
            for column in ["held_user", "held_groups"] {
                if let Some(list) = row.try_get::<Option<String>, _>(column)? {
                    held.extend(
                        list.split(' ')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                    );
                }
            }
            Some(held)
        } else if with_held_scopes && let Some(family) = &family {
            Some(self.user_held_scopes(&family.user_id).await?)
        } else {
            None
        };
        Ok(Some(RefreshGrantRows {
            token,
            family,
            user,
            held_scopes,
        }))
    }

    /// Marks a refresh token rotated; false when another request rotated it first.
    pub async fn mark_refresh_rotated(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql =
            "UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND rotated_at IS NULL";
        if let Some(group) = self.group_commit() {
            let changed = group
                .execute(
                    sql.to_string(),
                    vec![DynValue::Int(now), DynValue::Text(token_hash.to_string())],
                )
                .await?;
            return Ok(changed == 1);
        }
        let done = sqlx::query(self.sql(sql))
            .bind(now)
            .bind(token_hash)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records an access token issued inside a family, so revoking the family revokes it too.
    /// Records an access token in its family, if the family is live. Returns false (and
    /// records nothing) when the family is revoked or gone: the token must then not be issued.
    ///
    /// The family row is locked while the token is recorded (`FOR UPDATE`; SQLite has a single
    /// writer), so a concurrent revocation either waits and then moves this token to the
    /// deny-list with the others, or happens first and this answers false. Without the lock a
    /// refresh racing a revocation issued a token that stayed live.
    pub async fn insert_family_access_token(
        &self,
        jti: &str,
        family_id: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        if let Some(group) = self.group_commit() {
            // SQLite's one writer runs this statement between any two others: the check and
            // the insert are one step, batched with other callers' single-row writes.
            let recorded = group
                .execute(
                    "INSERT INTO family_access_tokens (jti, family_id, expires_at) \
                     SELECT ?, ?, ? FROM token_families WHERE family_id = ? AND revoked_at IS NULL"
                        .to_string(),
                    vec![
                        DynValue::Text(jti.to_string()),
                        DynValue::Text(family_id.to_string()),
                        DynValue::Int(expires_at),
                        DynValue::Text(family_id.to_string()),
                    ],
                )
                .await?;
            return Ok(recorded == 1);
        }
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres | Backend::Mysql => " FOR UPDATE",
        };
        let mut tx = self.writer().begin().await?;
        let select = format!("SELECT revoked_at FROM token_families WHERE family_id = ?{lock}");
        let live = match sqlx::query(self.sql(&select))
            .bind(family_id)
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => row.try_get::<Option<i64>, _>(0)?.is_none(),
            None => false,
        };
        if !live {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            self.sql(
                "INSERT INTO family_access_tokens (jti, family_id, expires_at) VALUES (?, ?, ?)",
            ),
        )
        .bind(jti)
        .bind(family_id)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes the family a replayed authorization code was (or is being) redeemed into. If
    /// the first redemption has not created the family yet, a revoked one is created in its
    /// place, so that redemption fails instead of issuing live tokens.
    pub async fn revoke_code_family(
        &self,
        family: &TokenFamilyRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        let tombstone = TokenFamilyRecord {
            revoked_at: Some(now),
            ..family.clone()
        };
        match self.insert_token_family(&tombstone).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => {
                self.revoke_family(&family.family_id, now).await.map(|_| ())
            }
            Err(other) => Err(other),
        }
    }

    /// Revokes one family: its refresh tokens stop working and its access tokens join the
    /// revocation list. Returns false when it was already revoked or does not exist.
    pub async fn revoke_family(&self, family_id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.writer().begin().await?;
        let revoked = self
            .revoke_families_where(&mut tx, "family_id", family_id, now)
            .await?;
        tx.commit().await?;
        Ok(revoked > 0)
    }

    /// Revokes every live family whose `column` equals `value`, inside `tx`.
    pub(crate) async fn revoke_families_where(
        &self,
        tx: &mut Transaction<'static, Any>,
        column: &'static str,
        value: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        let select = format!(
            "SELECT family_id FROM token_families WHERE {column} = ? AND revoked_at IS NULL"
        );
        let families: Vec<String> = sqlx::query(self.sql(&select))
            .bind(value)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
        for family_id in &families {
            sqlx::query(self.sql(
                "UPDATE token_families SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
            ))
            .bind(now)
            .bind(family_id)
            .execute(&mut **tx)
            .await?;
            // Access tokens minted in a family carry it in their `jti` (`FAMILY.random`) and are
            // not recorded one by one: one marker denies them all until the last can expire.
            let marker = crate::family_marker(family_id);
            sqlx::query(self.sql(
                "INSERT INTO revoked_access_tokens (jti, expires_at) SELECT ?, ? \
                 WHERE NOT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?)",
            ))
            .bind(&marker)
            .bind(now + self.family_marker_ttl())
            .bind(&marker)
            .execute(&mut **tx)
            .await?;
            sqlx::query(self.sql(
                // Some of the family's tokens may be on the deny-list already (RFC 7009 on
                // one access token): insert only the others, or the whole revocation fails.
                "INSERT INTO revoked_access_tokens (jti, expires_at) \
                 SELECT f.jti, f.expires_at FROM family_access_tokens f WHERE f.family_id = ? \
                 AND NOT EXISTS (SELECT 1 FROM revoked_access_tokens r WHERE r.jti = f.jti)",
            ))
            .bind(family_id)
            .execute(&mut **tx)
            .await?;
            // Moved to the revocation list, so a second revocation cannot insert duplicates.
            sqlx::query(self.sql("DELETE FROM family_access_tokens WHERE family_id = ?"))
                .bind(family_id)
                .execute(&mut **tx)
                .await?;
            sqlx::query(self.sql("DELETE FROM refresh_tokens WHERE family_id = ?"))
                .bind(family_id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(families.len() as u64)
    }

    /// Adds one access token to the revocation list (idempotent).
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        let insert = sqlx::query(
            self.sql("INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?)"),
        )
        .bind(jti)
        .bind(expires_at)
        .execute(self.writer())
        .await;
        match insert {
            Ok(_) => Ok(()),
            Err(err) => match StoreError::conflict_or(err, "revocation") {
                StoreError::Conflict(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// The ids of revoked access tokens that have not expired yet.
    pub async fn revoked_access_tokens(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query(self.sql("SELECT jti FROM revoked_access_tokens WHERE expires_at > ?"))
                .bind(now)
                .fetch_all(self.reader())
                .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    /// Remembers a client assertion's `jti` until it expires. Returns false when it was seen
    /// before (a replay).
    pub async fn remember_client_assertion(
        &self,
        client_id: &str,
        jti_digest: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let insert = sqlx::query(
            self.sql("INSERT INTO client_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)"),
        )
        .bind(client_id)
        .bind(jti_digest)
        .bind(expires_at)
        .execute(self.writer())
        .await;
        match insert {
            Ok(_) => Ok(true),
            Err(err) => match StoreError::conflict_or(err, "client assertion") {
                StoreError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Deletes rows whose lifetime is over; run periodically by the hub.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        for statement in [
            "DELETE FROM authorization_requests WHERE expires_at < ?",
            "DELETE FROM pushed_requests WHERE expires_at < ?",
            "DELETE FROM authorization_codes WHERE expires_at < ?",
            "DELETE FROM refresh_tokens WHERE expires_at < ?",
            "DELETE FROM family_access_tokens WHERE expires_at < ?",
            "DELETE FROM revoked_access_tokens WHERE expires_at < ?",
            "DELETE FROM client_assertions WHERE expires_at < ?",
            "DELETE FROM webauthn_challenges WHERE expires_at < ?",
            "DELETE FROM transmit_states WHERE expires_at < ?",
        ] {
            total += sqlx::query(self.sql(statement))
                .bind(now)
                .execute(self.writer())
                .await?
                .rows_affected();
        }
        // Cluster state counts milliseconds; a node's activity row outlives it by an hour.
        let now_ms = now.saturating_mul(1000);
        for (statement, before) in [
            ("DELETE FROM toki_sessions WHERE expires_at < ?", now_ms),
            ("DELETE FROM replay_claims WHERE expires_at < ?", now_ms),
            (
                "DELETE FROM activity_shares WHERE updated_at < ?",
                now_ms - 3_600_000,
            ),
            (
                "DELETE FROM login_failures WHERE last_failure_ms < ?",
                now_ms - 3_600_000,
            ),
        ] {
            total += sqlx::query(self.sql(statement))
                .bind(before)
                .execute(self.writer())
                .await?
                .rows_affected();
        }
        total += self.end_expired_sessions(now).await?;
        Ok(total)
    }
}
