-- Issue 19: the private half of each signing key lives in the store, sealed with AES-256-GCM
-- under the master key (keyway-auth/src/keys.rs), so every node of a cluster signs with the
-- same keys. NULL: a key from before this migration, imported from its file at the next start.
ALTER TABLE signing_keys ADD COLUMN private_key TEXT;
