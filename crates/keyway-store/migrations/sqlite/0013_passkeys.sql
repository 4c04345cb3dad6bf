-- Passkeys (issue 20, WebAuthn). One row a credential: the SHA-256 (hex) of its raw id as the
-- key (ids may be 1023 bytes), the id itself (base64url), its owner and the user handle the
-- authenticator stores for them, a name the person chose, and the credential as webauthn-rs
-- serialises it (public key, signature counter, flags): public material, not sealed.
CREATE TABLE IF NOT EXISTS passkeys (
    credential_hash TEXT PRIMARY KEY,
    credential_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_handle TEXT NOT NULL,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    -- When a sign-in showed a signature counter that went backwards: a copied authenticator.
    -- The passkey is refused from then on, until it is removed.
    compromised_at INTEGER
);
CREATE INDEX IF NOT EXISTS passkeys_by_user ON passkeys (user_id);
-- Challenges of WebAuthn ceremonies that were answered: the ceremony's state travels sealed in
-- the page, and a challenge is good once (its SHA-256 here until it would have expired).
CREATE TABLE IF NOT EXISTS webauthn_challenges (
    challenge_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
