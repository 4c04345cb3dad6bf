-- Issue 18: handing a signed-in user from one client to another (POST /oauth2/transmit).
-- A transmit state is the single-use link A sends the browser to: stored by the SHA-256 (hex)
-- of its random value, for at most 60 s, spent by a conditional UPDATE of used_at.
CREATE TABLE IF NOT EXISTS transmit_states (
    state_hash TEXT PRIMARY KEY,
    from_client TEXT NOT NULL,
    to_client TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    transmit_fun TEXT,
    transmit_data TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
-- Codes and token families of a transmitted sign-in name the client that handed it over.
ALTER TABLE authorization_codes ADD COLUMN transmitted_from TEXT;
ALTER TABLE token_families ADD COLUMN transmitted_from TEXT;
