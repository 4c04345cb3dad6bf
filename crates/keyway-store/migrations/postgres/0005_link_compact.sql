-- Compact link tables (docs/linkage.md, "Storage"): link_records keyed by its hub-wide `seq`
-- with the UUID as 16 bytes; link_hashes holds (32-byte hash, rule code, seq of the record)
-- and reads partner, patid and UUID from the record it points at. Narrower randomly keyed
-- index entries mean fewer pages dirtied (and written) per batch.
-- Rule codes: 1 F_L_D_R, 2 F_L_D_S, 3 F_L_D_R_FOLD, 4 F_L_D_S_FOLD.
CREATE TABLE link_records_compact (
    seq BIGINT PRIMARY KEY,
    partner TEXT NOT NULL,
    patid TEXT NOT NULL,
    uuid BYTEA NOT NULL,
    flag TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO link_records_compact (seq, partner, patid, uuid, flag, reason, created_at)
SELECT seq, partner, patid, decode(replace(uuid, '-', ''), 'hex'), flag, reason, created_at
FROM link_records;
CREATE TABLE link_hashes_compact (
    hash BYTEA NOT NULL,
    rule SMALLINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (hash, rule, seq)
);
INSERT INTO link_hashes_compact (hash, rule, seq)
SELECT decode(h.hash, 'hex'),
       CASE h.rule WHEN 'F_L_D_R' THEN 1 WHEN 'F_L_D_S' THEN 2
                   WHEN 'F_L_D_R_FOLD' THEN 3 WHEN 'F_L_D_S_FOLD' THEN 4 END,
       r.seq
FROM link_hashes h JOIN link_records r ON r.partner = h.partner AND r.patid = h.patid;
DROP TABLE link_hashes;
DROP TABLE link_records;
ALTER TABLE link_records_compact RENAME TO link_records;
ALTER TABLE link_hashes_compact RENAME TO link_hashes;
ALTER INDEX link_records_compact_pkey RENAME TO link_records_pkey;
ALTER INDEX link_hashes_compact_pkey RENAME TO link_hashes_pkey;
CREATE UNIQUE INDEX link_records_patid ON link_records (partner, patid);
CREATE INDEX link_records_uuid ON link_records (uuid);
