-- Issue 19, state the nodes of a cluster share. The hub's toki sessions, shared by the nodes of a cluster (docs/toki.md, "Sessions
-- in a cluster"). `sealed` holds the caller, expiry and epoch roots, AES-256-GCM-sealed under
-- the master key; the ratchet anchor (two MACs that travel in the tokens) is in the clear so
-- that a node can publish a later one with a conditional update.
CREATE TABLE IF NOT EXISTS toki_sessions (
    session_id VARCHAR(64) PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    sealed TEXT NOT NULL,
    anchor_counter BIGINT,
    anchor VARCHAR(128)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS toki_sessions_expiry ON toki_sessions (expires_at);
-- Things accepted once in the whole cluster (toki counters and hello nonces, DPoP proof ids),
-- kept while a node could still take them for fresh.
CREATE TABLE IF NOT EXISTS replay_claims (
    claim VARCHAR(80) PRIMARY KEY,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS replay_claims_expiry ON replay_claims (expires_at);
-- What each node of a cluster saw on its activity map (JSON, at most one row per node,
-- replaced every second): every node shows the whole cluster's traffic.
CREATE TABLE IF NOT EXISTS activity_shares (
    node VARCHAR(190) PRIMARY KEY,
    updated_at BIGINT NOT NULL,
    payload MEDIUMTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- Failed sign-in attempts counted by every node (keyway-auth/src/throttle_shared.rs): one
-- row per throttle counter, keyed by the SHA-256 of (username, address) and the like.
CREATE TABLE IF NOT EXISTS login_failures (
    counter CHAR(64) PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
