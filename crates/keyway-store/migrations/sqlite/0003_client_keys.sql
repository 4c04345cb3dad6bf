-- Transfer public keys registered for OAuth clients (keyway client add-key), so one Ed25519
-- identity serves both the hub and keyway-transfer.
CREATE TABLE IF NOT EXISTS client_keys (
    client_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, fingerprint)
);
