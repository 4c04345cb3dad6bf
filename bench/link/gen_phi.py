#!/usr/bin/env python3
"""Writes N synthetic patient rows (realistic names, punctuation, accents, ~1% bad rows).

Usage: gen_phi.py N OUTPUT [SEED]. Deterministic for a given seed.
"""
import random
import sys

FIRST = ["Aly", "José", "Mary Ann", "O'Neil", "Zoë", "Anne-Marie", "Jean-Luc", "Li", "Ngozi",
         "Søren", "Chloé", "Muhammad", "Bjørn", "D'Andre", "Renée", "Ana María", "Kai", "Élodie",
         "Jürgen", "Siobhán", "Wei", "Priya", "Günther", "Maëlle", "Tomás", "Ingrid", "Ólafur"]
LAST = ["Bee", "Núñez", "O'Brien-Smith", "van der Berg", "Ærø", "García Márquez", "Smith",
        "Nguyen", "Müller", "Døssing", "St. John", "MacDonald", "Łukasiewicz", "Ó Súilleabháin",
        "Okafor", "Johnson, Jr.", "Dubois", "Kowalski", "Öztürk", "Fernández", "Lee", "Papadopoulos"]
SEX = ["F", "M", "F", "M", "f", "m", "A", "NI", "UN", "OT"]
RACE = ["1", "2", "3", "4", "5", "6", "7", "01", "02", "03", "05", "NI", "UN", "OT"]


def dob(rng):
    y, m, d = rng.randint(1920, 2024), rng.randint(1, 12), rng.randint(1, 28)
    form = rng.randrange(4)
    if form == 0:
        return "%04d-%02d-%02d" % (y, m, d)
    if form == 1:
        return "%d/%d/%04d" % (m, d, y)
    if form == 2:
        return "%02d/%02d/%04d" % (m, d, y)
    return "%04d%02d%02d" % (y, m, d)


def main():
    n, path = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("patid,first,last,dob,sex,race\n")
        for i in range(n):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if rng.random() < 0.3:
                first = " " + first.upper() + "."
            birth = dob(rng)
            if rng.random() < 0.01:
                birth = rng.choice(["2001-02-30", "13/45/1999", "unknown", "1/5/01"])
            first = '"%s"' % first if "," in first else first
            last = '"%s"' % last if "," in last else last
            out.write("P%08d,%s,%s,%s,%s,%s\n" % (i, first, last, birth, rng.choice(SEX), rng.choice(RACE)))


if __name__ == "__main__":
    main()
