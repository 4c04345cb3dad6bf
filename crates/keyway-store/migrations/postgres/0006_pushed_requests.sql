-- Pushed authorization requests (RFC 9126): a client's validated request, kept until its
-- request_uri (stored as a SHA-256 digest) is used once or expires.
CREATE TABLE IF NOT EXISTS pushed_requests (
    request_uri_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    params TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX IF NOT EXISTS pushed_requests_expiry ON pushed_requests (expires_at);
-- Per-client policy as JSON (keyway-auth's ClientPolicy, e.g. {"require_pushed_requests":true}),
-- so that each new per-client switch needs no migration of its own.
ALTER TABLE clients ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';
-- How the authorization response goes back (OAuth 2.0 response modes; JARM's signed ones).
ALTER TABLE authorization_requests ADD COLUMN response_mode TEXT;
