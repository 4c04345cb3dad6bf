-- Sign-in through upstream OpenID Connect providers ([[login.upstream]] in keyway.toml): which
-- local user an upstream identity (provider name, its `sub`) is, one user per identity.
CREATE TABLE IF NOT EXISTS upstream_identities (
    upstream VARCHAR(32) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    user_id VARCHAR(190) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (upstream, subject)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS upstream_identities_user ON upstream_identities (user_id);
-- How the person signed in ("password" or an upstream's name), carried from the login session
-- through the authorization request and code to the token family, for the ID token's amr/idp.
-- On a request not signed in yet: the login type it asked for (`type`), if any.
ALTER TABLE login_sessions ADD COLUMN login_method VARCHAR(32);
ALTER TABLE authorization_requests ADD COLUMN login_method VARCHAR(32);
ALTER TABLE authorization_codes ADD COLUMN login_method VARCHAR(32);
ALTER TABLE token_families ADD COLUMN login_method VARCHAR(32);
