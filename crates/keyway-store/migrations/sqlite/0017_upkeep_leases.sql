-- Issue 19: upkeep that must run on one node of a cluster at a time (scheduled key rotation,
-- purging expired rows, pruning the audit log) is done by the node holding the lease row;
-- another takes it over once it has expired (its holder stopped renewing it).
CREATE TABLE IF NOT EXISTS upkeep_leases (
    name VARCHAR(190) PRIMARY KEY,
    holder VARCHAR(190) NOT NULL,
    expires_at BIGINT NOT NULL
);
