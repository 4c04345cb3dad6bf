-- Issue 18: trust rules between clients and the audit log (see the SQLite migration).
CREATE TABLE IF NOT EXISTS client_rules (
    from_client TEXT NOT NULL,
    to_client TEXT NOT NULL,
    purpose TEXT NOT NULL,
    scope TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (from_client, to_client, purpose)
);
CREATE INDEX IF NOT EXISTS client_rules_by_target ON client_rules (to_client);
CREATE TABLE IF NOT EXISTS audit_events (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    target TEXT,
    user_id TEXT,
    rule TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS audit_events_by_time ON audit_events (at_ms);
