-- keyway initial schema (MySQL/MariaDB). Times are Unix milliseconds; digests are lowercase hex.
CREATE TABLE IF NOT EXISTS settings (
    name VARCHAR(190) PRIMARY KEY,
    value TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS clients (
    client_id VARCHAR(190) PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    public_client BIGINT NOT NULL,
    auth_method TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scope TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    jwks TEXT,
    jwks_uri TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS users (
    user_id VARCHAR(190) PRIMARY KEY,
    username VARCHAR(190) NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS signing_keys (
    kid VARCHAR(190) PRIMARY KEY,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT,
    expires_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS authorization_requests (
    request_id VARCHAR(190) PRIMARY KEY,
    client_id VARCHAR(190) NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    prompt TEXT,
    code_challenge TEXT NOT NULL,
    resources TEXT NOT NULL,
    user_id TEXT,
    auth_time BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS authorization_codes (
    code_hash VARCHAR(190) PRIMARY KEY,
    client_id VARCHAR(190) NOT NULL,
    user_id VARCHAR(190) NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    resources TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    family_id VARCHAR(190) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS token_families (
    family_id VARCHAR(190) PRIMARY KEY,
    client_id VARCHAR(190) NOT NULL,
    user_id VARCHAR(190) NOT NULL,
    scope TEXT NOT NULL,
    resources TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash VARCHAR(190) PRIMARY KEY,
    family_id VARCHAR(190) NOT NULL,
    client_id VARCHAR(190) NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id);
CREATE TABLE IF NOT EXISTS family_access_tokens (
    jti VARCHAR(190) PRIMARY KEY,
    family_id VARCHAR(190) NOT NULL,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS family_access_tokens_family ON family_access_tokens (family_id);
CREATE TABLE IF NOT EXISTS revoked_access_tokens (
    jti VARCHAR(190) PRIMARY KEY,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS client_assertions (
    client_id VARCHAR(190) NOT NULL,
    jti VARCHAR(190) NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS consents (
    user_id VARCHAR(190) NOT NULL,
    client_id VARCHAR(190) NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS login_sessions (
    session_hash VARCHAR(190) PRIMARY KEY,
    user_id VARCHAR(190) NOT NULL,
    auth_time BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
