#!/usr/bin/env bash
# keyway vs SAP CAP (@sap/cds with @cap-js/sqlite, pinned in package-lock.json) on the same
# 1,000,000 contacts, both on SQLite, same load tool and load, same run:
#
#   bash bench/data/cap/run.sh
#
# Loads bench/data/gen.py's contacts straight into each side's table (keyway's data_contact,
# CAP's bench_Contact, each with an index on lastName), then runs wrk (bench/data/requests.lua)
# against each in turn:
#   get      GET …/Contact(<id>) for random existing ids
#   filter   GET …/Contact?$filter=lastName eq '…' (10 rows each)
# keyway checks a bearer token on every request; CAP runs without authentication (as its
# dummy auth), in production mode, one Node.js process as `cds-serve` starts it.
# Prints a table with the ratios and writes bench/results/data-cap-<UTC date-time>.json.
#
# Then sends the same OData requests to both (compare.py) and prints what each answers.
#
# Knobs: BENCH_ROWS=1000000 BENCH_THREADS=2 BENCH_CONNECTIONS=32 BENCH_DURATION=10
#        BENCH_SKIP_BUILD=1 KEYWAY_BIN=PATH BENCH_KEEP=1 (as bench/data/run.sh)
#        BENCH_COMPARE_ONLY=1  only the side-by-side requests (try BENCH_ROWS=10000)
# Needs: wrk curl jq python3 sqlite3 node (>= 20) npm.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA=$(cd "$HERE/.." && pwd)
REPO=$(cd "$DATA/../.." && pwd)
ROWS=${BENCH_ROWS:-1000000}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
KEYWAY_PORT=18433
CAP_PORT=18434

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in wrk curl jq python3 sqlite3 node npm; do
  command -v $tool >/dev/null || die "$tool is missing"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-bench-cap.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [[ -n ${BENCH_KEEP:-} || $rc -ne 0 ]]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway"
  (cd "$REPO" && cargo build --release -q -p keyway)
fi
[[ -x $KEYWAY_BIN ]] || die "no keyway binary at $KEYWAY_BIN"
# npm ci only when node_modules is not what package-lock.json pins (it rebuilds the native
# better-sqlite3, minutes on a small machine).
want=$(jq -r '.packages["node_modules/@sap/cds"].version' "$HERE/package-lock.json")
have=$(cd "$HERE" && node -p "require('@sap/cds/package.json').version" 2>/dev/null || true)
if [[ $want != "$have" ]] || ! (cd "$HERE" && node -e "require('better-sqlite3')(':memory:')" 2>/dev/null); then
  log "npm ci (@sap/cds $want, @cap-js/sqlite as pinned)"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  # better-sqlite3 is a native module: build it here if npm left it unbuilt.
  (cd "$HERE" && node -e "require('better-sqlite3')(':memory:')" 2>/dev/null) \
    || (cd "$HERE" && npm rebuild better-sqlite3 --loglevel=error >/dev/null)
fi

wait_for() { # URL LOG
  for _ in $(seq 1 150); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.2
  done
  die "$1 did not answer: $(tail -20 "$2")"
}

# measure SIDE MODE BASE PORT TOKEN
measure() {
  local side=$1 mode=$2 base=$3 port=$4 token=$5
  BENCH_MODE=$mode BENCH_OUT="$WORK/$side-$mode.json" BENCH_IDS="$WORK/ids.txt" BENCH_BASE=$base \
    BENCH_TOKEN=$token wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$DATA/requests.lua" \
    "http://127.0.0.1:$port" >"$WORK/$side-$mode.txt" 2>&1 || die "wrk $side $mode: $(cat "$WORK/$side-$mode.txt")"
  local errors
  errors=$(jq '.errors.status + .errors.timeout + .errors.connect' "$WORK/$side-$mode.json")
  [[ $errors == 0 ]] || die "$side $mode: $errors failed requests ($(cat "$WORK/$side-$mode.txt"))"
}

log "generating $ROWS rows"
python3 "$DATA/gen.py" "$ROWS" "$WORK/ids.txt" "$WORK/orgs.csv" "$WORK/org-ids.txt" >"$WORK/rows.csv"

# keyway, as bench/data/run.sh loads it.
mkdir -p "$WORK/keyway"
start_keyway() {
  "$KEYWAY_BIN" --data-dir "$WORK/keyway" --database "sqlite://$WORK/keyway/keyway.db" serve \
    --listen 127.0.0.1:$KEYWAY_PORT --schemas "$DATA/schemas.yaml" >"$WORK/keyway/hub.log" 2>&1 &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$KEYWAY_PORT/readyz" "$WORK/keyway/hub.log"
}
start_keyway
kill -TERM "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
COLUMNS='id, version, created_at, updated_at, "firstName", "lastName", email, city, score, "organizationId"'
ORG_COLUMNS='id, version, created_at, updated_at, name, website'
log "keyway: loading $ROWS rows"
sqlite3 "$WORK/keyway/keyway.db" "PRAGMA foreign_keys = ON;" \
  ".import --csv $WORK/orgs.csv bench_orgs" \
  "INSERT INTO data_organization ($ORG_COLUMNS) SELECT $ORG_COLUMNS FROM bench_orgs;" \
  ".import --csv $WORK/rows.csv bench_rows" \
  "INSERT INTO data_contact ($COLUMNS) SELECT $COLUMNS FROM bench_rows;" \
  "DROP TABLE bench_rows;" "DROP TABLE bench_orgs;" "ANALYZE;"
start_keyway
client=$("$KEYWAY_BIN" --data-dir "$WORK/keyway" --database "sqlite://$WORK/keyway/keyway.db" client create \
  --name bench --grant client_credentials --scope "contact.readwrite" --json)
TOKEN=$(curl -fs -u "$(jq -r .client_id <<<"$client"):$(jq -r .client_secret <<<"$client")" \
  -d grant_type=client_credentials "http://127.0.0.1:$KEYWAY_PORT/oauth2/token" | jq -r .access_token)

# CAP: its own copy of the project, its tables made by cds-deploy, the same rows.
mkdir -p "$WORK/cap"
cp -r "$HERE/db" "$HERE/srv" "$HERE/package.json" "$WORK/cap/"
ln -s "$HERE/node_modules" "$WORK/cap/node_modules"
log "cap: cds-deploy, loading $ROWS rows"
(cd "$WORK/cap" && node node_modules/@sap/cds/bin/deploy.js >"$WORK/cap/deploy.log" 2>&1) \
  || die "cds-deploy: $(cat "$WORK/cap/deploy.log")"
sqlite3 "$WORK/cap/db.sqlite" ".import --csv $WORK/rows.csv bench_rows" \
  "INSERT INTO bench_Contact (ID, firstName, lastName, email, city, score, organizationId)
     SELECT id, firstName, lastName, email, city, score, organizationId FROM bench_rows;" \
  "DROP TABLE bench_rows;" "CREATE INDEX bench_Contact_lastName ON bench_Contact (lastName);" "ANALYZE;"
(cd "$WORK/cap" && NODE_ENV=production PORT=$CAP_PORT node node_modules/@sap/cds/bin/serve.js \
  >"$WORK/cap/serve.log" 2>&1) &
PIDS+=($!)
CAP_BASE=/odata/v4/bench
wait_for "http://127.0.0.1:$CAP_PORT$CAP_BASE/Contact?\$top=1" "$WORK/cap/serve.log"

# Both answer the same rows before anything is timed.
first=$(head -1 "$WORK/ids.txt")
curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$KEYWAY_PORT/api/Contact($first)" >/dev/null \
  || die "keyway: GET of a loaded row failed"
curl -fs "http://127.0.0.1:$CAP_PORT$CAP_BASE/Contact($first)" >/dev/null || die "cap: GET of a loaded row failed"
for side in "$KEYWAY_PORT/api" "$CAP_PORT$CAP_BASE"; do
  n=$(curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$side/Contact?\$filter=lastName%20eq%20'L000042'" | jq '.value | length')
  [[ $n == 10 ]] || die "$side: the equality filter returned $n rows, not 10"
done

if [[ -n ${BENCH_COMPARE_ONLY:-} ]]; then
  python3 "$HERE/compare.py" "http://127.0.0.1:$KEYWAY_PORT/api" "http://127.0.0.1:$CAP_PORT$CAP_BASE" "$TOKEN" "$first"
  exit 0
fi
log "get and filter, keyway then CAP"
for mode in get filter; do
  measure keyway "$mode" /api "$KEYWAY_PORT" "$TOKEN"
  measure cap "$mode" "$CAP_BASE" "$CAP_PORT" none
done
log "the same requests to both (what each answers where OData leaves room)"
python3 "$HERE/compare.py" "http://127.0.0.1:$KEYWAY_PORT/api" "http://127.0.0.1:$CAP_PORT$CAP_BASE" "$TOKEN" "$first"

mkdir -p "$REPO/bench/results"
result="$REPO/bench/results/data-cap-$(date -u +%Y%m%dT%H%M%SZ).json"
cap_version=$(node -p "require('$HERE/node_modules/@sap/cds/package.json').version")
python3 - "$WORK" "$ROWS" "$CONNS" "$DURATION" "$result" "$cap_version" <<'EOF'
import json, os, sys
work, rows, conns, duration, out, cap_version = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
report = {"rows": rows, "connections": int(conns), "duration_s": int(duration), "cpus": os.cpu_count(),
          "cap": f"@sap/cds {cap_version}", "results": {}}
print(f"keyway vs SAP CAP (@sap/cds {cap_version}), SQLite, {rows:,} rows, wrk {conns} connections x {duration} s, {os.cpu_count()} CPUs")
print(f"{'test':22} {'side':8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
for mode, label in [("get", "GET by id"), ("filter", "$filter eq (10 rows)")]:
    row = {}
    for side in ("keyway", "cap"):
        s = json.load(open(f"{work}/{side}-{mode}.json"))
        rps = s["requests"] / (s["duration_us"] / 1e6)
        p50, p99 = s["latency_us"]["p50"] / 1000, s["latency_us"]["p99"] / 1000
        row[side] = {"req_per_s": round(rps), "p50_ms": p50, "p99_ms": p99}
        print(f"{label:22} {side:8} {rps:10,.0f} {p50:8.2f} {p99:8.2f}")
    row["ratio"] = round(row["keyway"]["req_per_s"] / max(1, row["cap"]["req_per_s"]), 1)
    print(f"{'':22} keyway/CAP req/s: {row['ratio']}x (target >= 10x)")
    report["results"][mode] = row
json.dump(report, open(out, "w"), indent=2)
print(f"written {out}")
EOF
