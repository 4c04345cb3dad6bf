#!/usr/bin/env python3
"""A plain Python implementation of the legacy OneFlorida hash rules (csv + hashlib).

It is the benchmark peer of `keyway link hash` and the independent oracle of keyway's golden
test (crates/keyway-link/tests/data/). Usage: legacy_hash.py INPUT OUTPUT [SALT]
"""
import csv
import hashlib
import re
import sys

MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
SEX = {"", "a", "f", "m", "ni", "un", "ot"}
RACE = {"", "01", "02", "03", "04", "05", "06", "07", "ni", "un", "ot"}


def norm(text):
    return "".join(c for c in text if c.isalnum()).lower()


def days_in(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def dob(raw):
    t = raw.strip()
    if not t:
        return ""
    m = re.match(r"^([0-9/.\-]{8,})[T ]", t)
    if m:
        t = m.group(1)
    if re.fullmatch(r"\d{8}", t):
        y, mo, d = int(t[:4]), int(t[4:6]), int(t[6:])
    else:
        parts = [p for p in re.split(r"[-/.,\s]+", t) if p]
        if len(parts) != 3:
            raise ValueError("bad date")
        a, b, c = parts
        if a.isdigit() and b.isdigit() and c.isdigit():
            if len(a) == 4:
                y, mo, d = int(a), int(b), int(c)
            elif len(c) == 4:
                mo, d, y = int(a), int(b), int(c)
            else:
                raise ValueError("two-digit year")
        elif b.isdigit() and c.isdigit() and len(c) == 4:
            mo, d, y = MONTHS[a[:3].lower()], int(b), int(c)
        elif a.isdigit() and c.isdigit() and len(c) == 4:
            mo, d, y = MONTHS[b[:3].lower()], int(a), int(c)
        else:
            raise ValueError("bad date")
    if not (1800 <= y <= 2200 and 1 <= mo <= 12 and 1 <= d <= days_in(y, mo)):
        raise ValueError("bad date")
    return "%04d-%02d-%02d" % (y, mo, d)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    salt = sys.argv[3] if len(sys.argv) > 3 else ""
    with open(src, newline="", encoding="utf-8-sig") as fin, open(dst, "w", newline="") as fout:
        reader = csv.DictReader(fin)
        writer = csv.writer(fout, lineterminator="\n")
        writer.writerow(["PATID", "F_L_D_R", "F_L_D_S"])
        for row in reader:
            try:
                first, last = norm(row["first"]), norm(row["last"])
                d = dob(row["dob"])
                sex, race = norm(row["sex"]), norm(row["race"])
                if len(race) == 1 and race in "1234567":
                    race = "0" + race
                if sex not in SEX or race not in RACE:
                    raise ValueError("bad code")
            except (ValueError, KeyError, AttributeError, TypeError):
                continue
            patid = row["patid"].strip()
            if not patid:
                continue
            r = s = ""
            if first and last and d and race and race not in ("ni", "un", "ot", "07"):
                r = hashlib.sha256((last + first + d + race + salt).encode()).hexdigest()
            if first and last and d and sex and sex not in ("ni", "un", "ot"):
                s = hashlib.sha256((first + last + d + sex + salt).encode()).hexdigest()
            writer.writerow([patid, r, s])


if __name__ == "__main__":
    main()
