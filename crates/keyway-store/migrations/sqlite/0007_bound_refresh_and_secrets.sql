-- The DPoP key (RFC 7638 thumbprint) a public client's refresh tokens are bound to (RFC 9449 §5).
ALTER TABLE token_families ADD COLUMN dpop_jkt TEXT;
-- A client's signing secret (the g2d1 profile's HMAC key), sealed with the hub's master key:
-- never stored in clear.
ALTER TABLE clients ADD COLUMN signing_secret TEXT;
-- What a g2d1-signed authorization request carries through the flow (its signed custom
-- parameters and login type), as JSON, to be signed again into the redirect.
ALTER TABLE authorization_requests ADD COLUMN extra TEXT;
-- The DPoP key an authorization code is bound to (RFC 9449 §10: dpop_jkt, or the proof sent
-- with a pushed request): only a proof by that key redeems it.
ALTER TABLE authorization_requests ADD COLUMN dpop_jkt TEXT;
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
