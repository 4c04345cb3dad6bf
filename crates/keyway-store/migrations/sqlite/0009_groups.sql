-- Groups of users (issue 20). The built-in group keyway-admins holds the hub's administrators:
-- only they see the activity map through a login session.
CREATE TABLE IF NOT EXISTS user_groups (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS group_members (
    group_name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (group_name, user_id)
);
CREATE INDEX IF NOT EXISTS group_members_user ON group_members (user_id);
-- Users' profile (OpenID Connect standard claims, by scope) and whether they are disabled
-- (a disabled user cannot sign in, and nothing issued for them is renewed).
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN name TEXT;
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN family_name TEXT;
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- Scopes granted to users and groups (issue 20): a scope keyway.toml marks as user-granted
-- ([oauth] user_granted_scopes) reaches a user's tokens only if the user holds it.
CREATE TABLE IF NOT EXISTS scope_grants (
    holder_kind TEXT NOT NULL,
    holder TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (holder_kind, holder, scope)
);
