#!/usr/bin/env python3
"""Synthetic hash files for the linking benchmark.

gen_hashes.py ROWS A.csv B.csv: A holds ROWS/2 records with two random hashes each; B holds
ROWS/2 records, half of them the same people as A (same F_L_D_R and F_L_D_S hashes), half new.
"""
import os
import sys

rows = int(sys.argv[1])
half = rows // 2
rand = os.urandom
with open(sys.argv[2], "w") as a, open(sys.argv[3], "w") as b:
    a.write("PATID,F_L_D_R,F_L_D_S\n")
    b.write("PATID,F_L_D_R,F_L_D_S\n")
    for i in range(half):
        r, s = rand(32).hex(), rand(32).hex()
        a.write(f"A{i},{r},{s}\n")
        if i % 2 == 0:
            b.write(f"B{i},{r},{s}\n")
        else:
            b.write(f"B{i},{rand(32).hex()},{rand(32).hex()}\n")
