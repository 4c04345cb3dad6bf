-- Record linkage (hub side). Times are Unix milliseconds; hashes are lowercase hex.
CREATE TABLE IF NOT EXISTS link_partners (
    code VARCHAR(190) PRIMARY KEY,
    client_id VARCHAR(190) NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS link_records (
    partner VARCHAR(64) NOT NULL,
    patid VARCHAR(190) NOT NULL,
    uuid VARCHAR(64) NOT NULL,
    flag VARCHAR(16) NOT NULL,
    reason TEXT NOT NULL,
    seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (partner, patid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX IF NOT EXISTS link_records_uuid ON link_records (partner, uuid);
CREATE TABLE IF NOT EXISTS link_hashes (
    hash VARCHAR(64) NOT NULL,
    rule VARCHAR(16) NOT NULL,
    partner VARCHAR(64) NOT NULL,
    patid VARCHAR(190) NOT NULL,
    uuid VARCHAR(64) NOT NULL,
    PRIMARY KEY (hash, rule, partner, patid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS link_conflicts (
    seq BIGINT PRIMARY KEY,
    partner VARCHAR(64) NOT NULL,
    patid VARCHAR(190) NOT NULL,
    chosen_uuid VARCHAR(64) NOT NULL,
    candidates TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- One row: linking takes it first in every transaction, so linkers run one at a time.
CREATE TABLE IF NOT EXISTS link_lock (
    id BIGINT PRIMARY KEY,
    next_seq BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO link_lock (id, next_seq) VALUES (1, 1);
