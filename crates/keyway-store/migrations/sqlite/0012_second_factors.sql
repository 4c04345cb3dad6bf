-- Second factors (issue 20). A user's TOTP secret (RFC 6238), sealed with the hub's master
-- key, and the last time step accepted (a code is good once); recovery codes by SHA-256 digest,
-- each good once.
CREATE TABLE IF NOT EXISTS user_totp (
    user_id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    last_step INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (user_id, code_hash)
);
