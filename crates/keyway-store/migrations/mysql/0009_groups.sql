-- Groups of users (issue 20). The built-in group keyway-admins holds the hub's administrators:
-- only they see the activity map through a login session.
CREATE TABLE IF NOT EXISTS user_groups (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS group_members (
    group_name VARCHAR(64) NOT NULL,
    user_id VARCHAR(190) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_name, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS group_members_user ON group_members (user_id);
-- Users' profile (OpenID Connect standard claims, by scope) and whether they are disabled
-- (a disabled user cannot sign in, and nothing issued for them is renewed).
ALTER TABLE users ADD COLUMN email VARCHAR(320);
ALTER TABLE users ADD COLUMN email_verified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN name VARCHAR(200);
ALTER TABLE users ADD COLUMN given_name VARCHAR(200);
ALTER TABLE users ADD COLUMN family_name VARCHAR(200);
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- Scopes granted to users and groups (issue 20): a scope keyway.toml marks as user-granted
-- ([oauth] user_granted_scopes) reaches a user's tokens only if the user holds it.
CREATE TABLE IF NOT EXISTS scope_grants (
    holder_kind VARCHAR(8) NOT NULL,
    holder VARCHAR(190) NOT NULL,
    scope VARCHAR(190) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (holder_kind, holder, scope)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
