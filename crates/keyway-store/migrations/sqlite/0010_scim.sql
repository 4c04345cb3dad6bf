-- SCIM 2.0 provisioning (issue 20). Users keep their user_id as SCIM id; groups get a stable
-- random id of their own (their name is their displayName and may change). scim_version
-- counts writes so that a conditional SCIM update (If-Match) is one `UPDATE … WHERE
-- scim_version = ?`; updated_at is meta.lastModified (seconds).
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN updated_at INTEGER;
ALTER TABLE users ADD COLUMN scim_version INTEGER NOT NULL DEFAULT 0;
-- Every address SCIM sent, as JSON; the primary one is also users.email (the OIDC claim).
ALTER TABLE users ADD COLUMN scim_emails TEXT;
ALTER TABLE user_groups ADD COLUMN scim_id TEXT;
ALTER TABLE user_groups ADD COLUMN external_id TEXT;
ALTER TABLE user_groups ADD COLUMN updated_at INTEGER;
ALTER TABLE user_groups ADD COLUMN scim_version INTEGER NOT NULL DEFAULT 0;
UPDATE user_groups SET scim_id = lower(hex(randomblob(16))) WHERE scim_id IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS user_groups_scim_id ON user_groups (scim_id);
CREATE INDEX IF NOT EXISTS users_external_id ON users (external_id);
