-- Compact link tables (docs/linkage.md, "Storage"). Linking is bound by B-tree inserts at
-- random keys, and every page such an insert dirties is written to the WAL at commit: the
-- narrower the randomly keyed entries, the fewer pages a batch rewrites. So:
-- - link_records is keyed by its hub-wide `seq` (appended in order), with the UUID as 16 bytes;
-- - link_hashes holds (32-byte hash, rule code, seq of the record) and nothing else: partner,
--   patid and UUID are read from the record it points at.
-- Rule codes: 1 F_L_D_R, 2 F_L_D_S, 3 F_L_D_R_FOLD, 4 F_L_D_S_FOLD.
CREATE TABLE link_records_compact (
    seq INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    patid TEXT NOT NULL,
    uuid BLOB NOT NULL,
    flag TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO link_records_compact (seq, partner, patid, uuid, flag, reason, created_at)
SELECT seq, partner, patid, unhex(uuid, '-'), flag, reason, created_at FROM link_records;
CREATE TABLE link_hashes_compact (
    hash BLOB NOT NULL,
    rule INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (hash, rule, seq)
) WITHOUT ROWID;
INSERT INTO link_hashes_compact (hash, rule, seq)
SELECT unhex(h.hash),
       CASE h.rule WHEN 'F_L_D_R' THEN 1 WHEN 'F_L_D_S' THEN 2
                   WHEN 'F_L_D_R_FOLD' THEN 3 WHEN 'F_L_D_S_FOLD' THEN 4 END,
       r.seq
FROM link_hashes h JOIN link_records r ON r.partner = h.partner AND r.patid = h.patid;
DROP TABLE link_hashes;
DROP TABLE link_records;
ALTER TABLE link_records_compact RENAME TO link_records;
ALTER TABLE link_hashes_compact RENAME TO link_hashes;
CREATE UNIQUE INDEX link_records_patid ON link_records (partner, patid);
CREATE INDEX link_records_uuid ON link_records (uuid);
