-- Second factors (issue 20). A user's TOTP secret (RFC 6238), sealed with the hub's master
-- key, and the last time step accepted (a code is good once); recovery codes by SHA-256 digest,
-- each good once.
CREATE TABLE IF NOT EXISTS user_totp (
    user_id VARCHAR(190) PRIMARY KEY,
    secret TEXT NOT NULL,
    last_step BIGINT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id VARCHAR(190) NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
