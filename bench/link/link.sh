#!/usr/bin/env bash
# Linking benchmark: ROWS records (two hashes each) submitted over HTTP with `keyway link
# submit` into a release hub. Partner A sends ROWS/2 new people; partner B sends ROWS/2, half of
# them A's people (LINKED), half new. Prints seconds and records/s per partner and overall.
# Usage: bench/link/link.sh [ROWS]   (default 1,000,000)
#   KEYWAY_BENCH_DATABASE=postgres://…/db   run on that database instead of SQLite
#                                            (the database must exist and be empty)
#   KEYWAY_BIN=PATH  benchmark that keyway binary (no build)
#   HUB_LOG=FILE  keep the hub's log (with RUST_LOG=keyway_link=debug: per-chunk timings)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${1:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/keyway-target}"
work="$(mktemp -d)"
hub_pid=""
cleanup() { [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

if [ -n "${KEYWAY_BIN:-}" ]; then keyway="$KEYWAY_BIN"; else
  cargo build --release -q -p keyway
  keyway="$CARGO_TARGET_DIR/release/keyway"
fi
db_args=()
[ -n "${KEYWAY_BENCH_DATABASE:-}" ] && db_args=(--database "$KEYWAY_BENCH_DATABASE")
kw() { "$keyway" --data-dir "$work/data" "${db_args[@]}" "$@"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"

python3 bench/link/gen_hashes.py "$ROWS" "$work/a.csv" "$work/b.csv"
# `keyway serve` creates the store; the admin commands below only use it.
"$keyway" --data-dir "$work/data" "${db_args[@]}" serve --listen "127.0.0.1:$port" \
  >"${HUB_LOG:-$work/hub.log}" 2>&1 &
hub_pid=$!
for _ in $(seq 50); do curl -fs "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
for p in A B; do
  kw client create --name "partner-$p" --grant client_credentials --scope link:submit --json \
    > "$work/client-$p.json"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_secret"])' \
    "$work/client-$p.json" > "$work/secret-$p"
  chmod 600 "$work/secret-$p"
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$work/client-$p.json")
  echo "$id" > "$work/id-$p"
  kw link partner create --code "$p" --client "$id" >/dev/null
done

now() { python3 -c 'import time; print(time.time())'; }
submit() { # partner input output
  "$keyway" link submit --hub "$url" --client-id "$(cat "$work/id-$1")" \
    --client-secret-file "$work/secret-$1" --input "$2" --output "$3" \
    --batch-size "${BATCH:-50000}" --quiet
}
t0=$(now); submit A "$work/a.csv" "$work/links-a.csv"
t1=$(now); submit B "$work/b.csv" "$work/links-b.csv"
t2=$(now)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$hub_pid/status")
# utime + stime of the hub in clock ticks (the same idiom as bench/oauth and bench/toki: skip
# the command name first): less noisy than wall time on a shared machine.
ticks=$(sed 's/.*) //' "/proc/$hub_pid/stat" | awk '{print $12 + $13}')
python3 - "$ROWS" "$t0" "$t1" "$t2" "$work" "$rss" "${KEYWAY_BENCH_DATABASE:-sqlite}" "$ticks" <<'PY'
import os, sys, collections
rows, t0, t1, t2, work, rss, db = int(sys.argv[1]), *map(float, sys.argv[2:5]), sys.argv[5], sys.argv[6], sys.argv[7]
hub_cpu = int(sys.argv[8]) / os.sysconf("SC_CLK_TCK")
def flags(path):
    c = collections.Counter()
    with open(path) as f:
        next(f)
        for line in f:
            c[line.split(",")[2]] += 1
    return dict(c)
half = rows // 2
print(f"linking {rows:,} records (two hashes each) over HTTP into a release hub on {db.split('://')[0]}")
print(f"{'step':<34}{'seconds':>10}{'records/s':>14}")
print(f"{'partner A: all new':<34}{t1 - t0:>10.2f}{half / (t1 - t0):>14,.0f}   {flags(work + '/links-a.csv')}")
print(f"{'partner B: half linked to A':<34}{t2 - t1:>10.2f}{half / (t2 - t1):>14,.0f}   {flags(work + '/links-b.csv')}")
print(f"{'total':<34}{t2 - t0:>10.2f}{rows / (t2 - t0):>14,.0f}   hub peak RSS: {int(rss) // 1024} MiB, hub CPU: {hub_cpu:.1f} s")
PY
