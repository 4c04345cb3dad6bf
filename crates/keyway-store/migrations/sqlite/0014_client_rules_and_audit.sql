-- Issue 18: trust rules between clients and the audit log.
-- A rule lets `from_client` hand users to, exchange tokens for, or call `to_client`
-- (`purpose`: transmit, exchange, call). `scope` caps what crosses (NULL: the user's own).
CREATE TABLE IF NOT EXISTS client_rules (
    from_client TEXT NOT NULL,
    to_client TEXT NOT NULL,
    purpose TEXT NOT NULL,
    scope TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (from_client, to_client, purpose)
);
CREATE INDEX IF NOT EXISTS client_rules_by_target ON client_rules (to_client);
-- Append-only: rows are only ever inserted, and deleted once older than the retention.
CREATE TABLE IF NOT EXISTS audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    target TEXT,
    user_id TEXT,
    rule TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS audit_events_by_time ON audit_events (at_ms);
