-- OpenID Connect logout (issue 20). A login session's public id, the ID token's `sid`: it is
-- carried from the session through the authorization request and code to the token family,
-- so that ending a session finds the clients it signed in to (back-channel logout) and the
-- refresh tokens it gave without offline_access (revoked with it).
ALTER TABLE login_sessions ADD COLUMN sid TEXT;
ALTER TABLE authorization_requests ADD COLUMN sid TEXT;
ALTER TABLE authorization_codes ADD COLUMN sid TEXT;
ALTER TABLE token_families ADD COLUMN sid TEXT;
CREATE INDEX IF NOT EXISTS token_families_sid ON token_families (sid);
