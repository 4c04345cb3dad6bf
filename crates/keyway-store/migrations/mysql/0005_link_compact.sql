-- Compact link tables (docs/linkage.md, "Storage"): link_records clustered by its hub-wide
-- `seq` with the UUID as 16 bytes; link_hashes holds (32-byte hash, rule code, seq of the
-- record) and reads partner, patid and UUID from the record it points at. Narrower randomly
-- keyed index entries mean fewer pages dirtied (and written) per batch.
-- Rule codes: 1 F_L_D_R, 2 F_L_D_S, 3 F_L_D_R_FOLD, 4 F_L_D_S_FOLD.
CREATE TABLE link_records_compact (
    seq BIGINT PRIMARY KEY,
    partner VARCHAR(64) NOT NULL,
    patid VARCHAR(190) NOT NULL,
    uuid BINARY(16) NOT NULL,
    flag VARCHAR(16) NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO link_records_compact (seq, partner, patid, uuid, flag, reason, created_at)
SELECT seq, partner, patid, UNHEX(REPLACE(uuid, '-', '')), flag, reason, created_at
FROM link_records;
CREATE TABLE link_hashes_compact (
    hash BINARY(32) NOT NULL,
    rule SMALLINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (hash, rule, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO link_hashes_compact (hash, rule, seq)
SELECT UNHEX(h.hash),
       CASE h.rule WHEN 'F_L_D_R' THEN 1 WHEN 'F_L_D_S' THEN 2
                   WHEN 'F_L_D_R_FOLD' THEN 3 WHEN 'F_L_D_S_FOLD' THEN 4 END,
       r.seq
FROM link_hashes h JOIN link_records r ON r.partner = h.partner AND r.patid = h.patid;
DROP TABLE link_hashes;
DROP TABLE link_records;
RENAME TABLE link_records_compact TO link_records, link_hashes_compact TO link_hashes;
CREATE UNIQUE INDEX link_records_patid ON link_records (partner, patid);
CREATE INDEX link_records_uuid ON link_records (uuid);
