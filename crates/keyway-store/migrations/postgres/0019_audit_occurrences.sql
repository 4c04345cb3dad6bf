-- Identical decisions gathered within a second are one row: how many it stands for.
ALTER TABLE audit_events ADD COLUMN occurrences BIGINT NOT NULL DEFAULT 1;
