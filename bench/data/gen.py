"""Rows for bench/data/run.sh: contacts as CSV on stdout with a header line of data_contact's
column names (the loader names the columns, so their order in the table does not matter); every
10th id goes to the file named by argv[2] (the GET-by-id sample). Organizations (one per 100
contacts, each contact's organizationId) go as CSV to argv[3] and their ids to argv[4].
argv[1] = contact count."""
import csv
import sys
import uuid

rows, sample_path, orgs_path, org_ids_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
org_count = max(1, rows // 100)
cities = ["Utrecht", "Amsterdam", "Rotterdam", "Groningen", "Delft", "Leiden", "Breda", "Zwolle"]
out = csv.writer(sys.stdout, lineterminator="\n")
rng = uuid.UUID(int=0x5EED)  # deterministic ids: uuid5 of the row number
COLUMNS = ["id", "version", "created_at", "updated_at", "firstName", "lastName", "email", "city", "score",
           "organizationId"]
org_rng = uuid.UUID(int=0x0A6)
org_ids = [str(uuid.uuid5(org_rng, str(i))) for i in range(org_count)]
with open(orgs_path, "w") as orgs, open(org_ids_path, "w") as ids:
    org_out = csv.writer(orgs, lineterminator="\n")
    org_out.writerow(["id", "version", "created_at", "updated_at", "name", "website"])
    for i, ident in enumerate(org_ids):
        org_out.writerow([ident, 1, 1700000000000, 1700000000000, f"Org {i}", f"https://org{i}.example"])
        ids.write(ident + "\n")
out.writerow(COLUMNS)
with open(sample_path, "w") as sample:
    for i in range(rows):
        ident = str(uuid.uuid5(rng, str(i)))
        if i % 10 == 0:
            sample.write(ident + "\n")
        out.writerow([ident, 1, 1700000000000, 1700000000000, f"First{i}", f"L{i // 10:06d}",
                      f"user{i}@example.com", cities[i % len(cities)], i % 101, org_ids[i % org_count]])
