-- Issue 18: trust rules between clients and the audit log (see the SQLite migration).
CREATE TABLE IF NOT EXISTS client_rules (
    from_client VARCHAR(190) NOT NULL,
    to_client VARCHAR(190) NOT NULL,
    purpose VARCHAR(16) NOT NULL,
    scope TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (from_client, to_client, purpose)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS client_rules_by_target ON client_rules (to_client);
CREATE TABLE IF NOT EXISTS audit_events (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action VARCHAR(64) NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    target TEXT,
    user_id TEXT,
    rule TEXT,
    reason TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS audit_events_by_time ON audit_events (at_ms);
