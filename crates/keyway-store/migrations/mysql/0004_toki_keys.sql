-- Toki keys (docs/toki.md): one Ed25519 public key per OAuth client, the service's identity in
-- oscartoki. Re-registering replaces it (rotation); deleting the client deletes it.
CREATE TABLE IF NOT EXISTS toki_keys (
    client_id VARCHAR(190) NOT NULL PRIMARY KEY,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
