"""Rows for bench/data/run.sh: CSV on stdout with a header line of data_contact's column names
(the loader names the columns, so their order in the table does not matter); every 10th id
goes to the file named by argv[2] (the GET-by-id sample). argv[1] = row count."""
import csv
import sys
import uuid

rows, sample_path = int(sys.argv[1]), sys.argv[2]
cities = ["Utrecht", "Amsterdam", "Rotterdam", "Groningen", "Delft", "Leiden", "Breda", "Zwolle"]
out = csv.writer(sys.stdout, lineterminator="\n")
rng = uuid.UUID(int=0x5EED)  # deterministic ids: uuid5 of the row number
COLUMNS = ["id", "version", "created_at", "updated_at", "firstName", "lastName", "email", "city", "score"]
out.writerow(COLUMNS)
with open(sample_path, "w") as sample:
    for i in range(rows):
        ident = str(uuid.uuid5(rng, str(i)))
        if i % 10 == 0:
            sample.write(ident + "\n")
        out.writerow([ident, 1, 1700000000000, 1700000000000, f"First{i}", f"L{i // 10:06d}",
                      f"user{i}@example.com", cities[i % len(cities)], i % 101])
