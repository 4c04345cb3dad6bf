-- Transfer public keys registered for OAuth clients (keyway client add-key), so one Ed25519
-- identity serves both the hub and keyway-transfer.
CREATE TABLE IF NOT EXISTS client_keys (
    client_id VARCHAR(190) NOT NULL,
    fingerprint VARCHAR(190) NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, fingerprint)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
