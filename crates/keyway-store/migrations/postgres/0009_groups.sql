-- Groups of users (issue 20). The built-in group keyway-admins holds the hub's administrators:
-- only they see the activity map through a login session.
CREATE TABLE IF NOT EXISTS user_groups (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS group_members (
    group_name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_name, user_id)
);
CREATE INDEX IF NOT EXISTS group_members_user ON group_members (user_id);
