#!/usr/bin/env bash
# Hashing benchmark: `keyway link hash` against a plain Python implementation of the same
# legacy rules (bench/link/legacy_hash.py), on the same synthetic file, in the same run.
# Usage: bench/link/run.sh [ROWS]   (default 1,000,000)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${1:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/keyway-target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p keyway
keyway="$CARGO_TARGET_DIR/release/keyway"
python3 bench/link/gen_phi.py "$ROWS" "$work/phi.csv"
size=$(du -h "$work/phi.csv" | cut -f1)

seconds() { python3 -c 'import sys,time; print(time.time())'; }

t0=$(seconds)
taskset -c 0 "$keyway" link hash --input "$work/phi.csv" --output "$work/keyway.csv" --quiet || [ $? -eq 3 ]
t1=$(seconds)
taskset -c 0 python3 bench/link/legacy_hash.py "$work/phi.csv" "$work/python.csv"
t2=$(seconds)
rss=$( { /usr/bin/time -f '%M' "$keyway" link hash --input "$work/phi.csv" --output "$work/k2.csv" --quiet || true; } 2>&1 | tail -1)

python3 - "$ROWS" "$t0" "$t1" "$t2" "$work" "$size" "$rss" <<'PY'
import sys, filecmp
rows, t0, t1, t2, work, size, rss = int(sys.argv[1]), *map(float, sys.argv[2:5]), sys.argv[5], sys.argv[6], sys.argv[7]
k, p = t1 - t0, t2 - t1
same = filecmp.cmp(f"{work}/keyway.csv", f"{work}/python.csv", shallow=False)
print(f"input: {rows:,} rows ({size}), one core each (taskset -c 0)")
print(f"{'tool':<28}{'seconds':>10}{'rows/s':>14}")
print(f"{'keyway link hash':<28}{k:>10.2f}{rows / k:>14,.0f}")
print(f"{'python csv+hashlib':<28}{p:>10.2f}{rows / p:>14,.0f}")
print(f"ratio keyway/python: {p / k:.1f}x   outputs identical: {same}   keyway max RSS: {int(rss) // 1024 if rss.isdigit() else rss} MiB")
PY
