-- Record linkage (hub side). Times are Unix milliseconds; hashes are lowercase hex.
CREATE TABLE IF NOT EXISTS link_partners (
    code TEXT PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS link_records (
    partner TEXT NOT NULL,
    patid TEXT NOT NULL,
    uuid TEXT NOT NULL,
    flag TEXT NOT NULL,
    reason TEXT NOT NULL,
    seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (partner, patid)
);
CREATE INDEX IF NOT EXISTS link_records_uuid ON link_records (partner, uuid);
CREATE TABLE IF NOT EXISTS link_hashes (
    hash TEXT NOT NULL,
    rule TEXT NOT NULL,
    partner TEXT NOT NULL,
    patid TEXT NOT NULL,
    uuid TEXT NOT NULL,
    PRIMARY KEY (hash, rule, partner, patid)
);
CREATE TABLE IF NOT EXISTS link_conflicts (
    seq BIGINT PRIMARY KEY,
    partner TEXT NOT NULL,
    patid TEXT NOT NULL,
    chosen_uuid TEXT NOT NULL,
    candidates TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- One row: linking takes it first in every transaction, so linkers run one at a time.
CREATE TABLE IF NOT EXISTS link_lock (
    id BIGINT PRIMARY KEY,
    next_seq BIGINT NOT NULL
);
INSERT INTO link_lock (id, next_seq) VALUES (1, 1);
