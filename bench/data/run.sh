#!/usr/bin/env bash
# Data API benchmark: 1,000,000 rows of bench/data/schemas.yaml on SQLite and PostgreSQL, same
# load tool and load, same run.
#
#   bash bench/data/run.sh
#
# For each backend: starts the hub once so it creates the table, stops it, loads the rows
# straight into the table (sqlite3 .import / psql \copy; loading through the API would time the
# loader, not the reads), starts the release hub again, gets a token, then runs wrk:
#   get      GET /api/Contact(<id>) for random existing ids
#   filter   GET /api/Contact?$filter=lastName eq '…' (indexed, 10 rows each), under load and
#            with one connection (the unloaded p50)
#   create   POST /api/Contact
#   list     GET /api/Contact?$filter=lastName ge … and lt …  (1,000 rows, indexed range)
#   expand1  the same with $expand=organization  (many-to-one: 1,000 contacts, their orgs)
#   expandN  GET /api/Organization(<id>)?$expand=contacts  (one-to-many: 100 contacts)
#   search   GET /api/Contact?$search=L0…  (full-text, 10 rows)
#   apply    GET /api/Contact?$apply=groupby((city),aggregate(…))  (all 1,000,000 rows)
#   batch    POST /api/$batch of 20 GETs by id
# Prints a table and writes bench/results/data-<UTC date-time>.json.
#
# Knobs (environment):
#   BENCH_ROWS=1000000 BENCH_THREADS=2 BENCH_CONNECTIONS=32 BENCH_DURATION=10
#   BENCH_BACKENDS="sqlite postgres"
#   BENCH_POSTGRES_ADMIN_URL [postgres://postgres@127.0.0.1:5432/postgres]  a database
#                            keyway_bench_data is dropped and created there
#   BENCH_SKIP_BUILD=1       use the keyway binary as it is
#   KEYWAY_BIN=PATH          [$CARGO_TARGET_DIR/release/keyway]
#   BENCH_KEEP=1             keep the temp dir
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROWS=${BENCH_ROWS:-1000000}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-10}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
PG_ADMIN=${BENCH_POSTGRES_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_URL=${PG_ADMIN%/*}/keyway_bench_data
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
PORT=18431
URL=http://127.0.0.1:$PORT

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in wrk curl jq python3 sqlite3 psql; do
  command -v $tool >/dev/null || die "$tool is missing (apt-get install wrk curl jq python3 sqlite3 postgresql-client)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-bench-data.XXXXXX")
HUB_PID=""
stop_hub() {
  [[ -n $HUB_PID ]] || return 0
  kill -TERM "$HUB_PID" 2>/dev/null || true
  wait "$HUB_PID" 2>/dev/null || true
  HUB_PID=""
}
cleanup() {
  local rc=$?
  stop_hub
  if [[ -n ${BENCH_KEEP:-} || $rc -ne 0 ]]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway"
  (cd "$REPO" && cargo build --release -q -p keyway)
fi
[[ -x $KEYWAY_BIN ]] || die "no keyway binary at $KEYWAY_BIN"

# start_hub DATA_DIR DATABASE_URL: runs the hub with the bench schemas, waits for /readyz.
start_hub() {
  "$KEYWAY_BIN" --data-dir "$1" --database "$2" serve --listen 127.0.0.1:$PORT \
    --schemas "$HERE/schemas.yaml" >"$1/hub.log" 2>&1 &
  HUB_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "$URL/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "the hub did not become ready: $(cat "$1/hub.log")"
}

# measure BACKEND MODE CONNECTIONS TAG: one wrk run, summary in $WORK/BACKEND-TAG.json.
measure() {
  local backend=$1 mode=$2 conns=$3 tag=$4 threads=$THREADS
  (( conns < threads )) && threads=$conns
  BENCH_MODE=$mode BENCH_OUT="$WORK/$backend-$tag.json" BENCH_IDS="$WORK/ids.txt" \
    BENCH_ORG_IDS="$WORK/org-ids.txt" \
    wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$HERE/requests.lua" "$URL" \
    >"$WORK/$backend-$tag.txt" 2>&1 || die "wrk $tag: $(cat "$WORK/$backend-$tag.txt")"
  local errors
  errors=$(jq '.errors.status + .errors.timeout + .errors.connect' "$WORK/$backend-$tag.json")
  [[ $errors == 0 ]] || die "$backend $tag: $errors failed requests ($(cat "$WORK/$backend-$tag.txt"))"
}

COLUMNS='id, version, created_at, updated_at, "firstName", "lastName", email, city, score, "organizationId"'
ORG_COLUMNS='id, version, created_at, updated_at, name, website'
log "generating $ROWS rows"
python3 "$HERE/gen.py" "$ROWS" "$WORK/ids.txt" "$WORK/orgs.csv" "$WORK/org-ids.txt" >"$WORK/rows.csv"

for backend in $BACKENDS; do
  dir="$WORK/$backend"
  mkdir -p "$dir"
  case $backend in
    sqlite) db="sqlite://$dir/keyway.db" ;;
    postgres)
      psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS keyway_bench_data" -c "CREATE DATABASE keyway_bench_data"
      db=$PG_URL ;;
    *) die "unknown backend $backend" ;;
  esac
  start_hub "$dir" "$db"
  stop_hub
  log "$backend: loading $ROWS rows"
  case $backend in
    sqlite)
      # .import into a new table takes the header as its column names; the INSERT names them.
      # Organizations first: contacts name them (a foreign key). The full-text index is
      # filled by its triggers as the contacts go in.
      sqlite3 "$dir/keyway.db" "PRAGMA foreign_keys = ON;" \
        ".import --csv $WORK/orgs.csv bench_orgs" \
        "INSERT INTO data_organization ($ORG_COLUMNS) SELECT $ORG_COLUMNS FROM bench_orgs;" \
        ".import --csv $WORK/rows.csv bench_rows" \
        "INSERT INTO data_contact ($COLUMNS) SELECT $COLUMNS FROM bench_rows;" \
        "DROP TABLE bench_rows;" "DROP TABLE bench_orgs;" "ANALYZE;" ;;
    postgres)
      psql -q "$PG_URL" -c "\\copy data_organization ($ORG_COLUMNS) FROM '$WORK/orgs.csv' CSV HEADER" \
        -c "\\copy data_contact ($COLUMNS) FROM '$WORK/rows.csv' CSV HEADER" \
        -c "VACUUM ANALYZE data_contact" -c "VACUUM ANALYZE data_organization" ;;
  esac
  start_hub "$dir" "$db"
  client=$("$KEYWAY_BIN" --data-dir "$dir" --database "$db" client create --name bench \
    --grant client_credentials --scope "contact.readwrite contact.read organization.read" --json)
  export BENCH_TOKEN
  BENCH_TOKEN=$(curl -fs -u "$(jq -r .client_id <<<"$client"):$(jq -r .client_secret <<<"$client")" \
    -d grant_type=client_credentials "$URL/oauth2/token" | jq -r .access_token)
  first=$(head -1 "$WORK/ids.txt")
  curl -fs -H "Authorization: Bearer $BENCH_TOKEN" "$URL/api/Contact($first)" >/dev/null \
    || die "$backend: GET of a loaded row failed"
  n=$(curl -fs -H "Authorization: Bearer $BENCH_TOKEN" "$URL/api/Contact?\$filter=lastName%20eq%20'L000042'" | jq '.value | length')
  [[ $n == 10 ]] || die "$backend: the equality filter returned $n rows, not 10"
  org=$(head -1 "$WORK/org-ids.txt")
  n=$(curl -fs -H "Authorization: Bearer $BENCH_TOKEN" "$URL/api/Organization($org)?\$expand=contacts" | jq '.contacts | length')
  [[ $n == 100 ]] || die "$backend: an organization expanded $n contacts, not 100"
  log "$backend: get, filter, filter at 1 connection, create, list, expand, search, apply, batch"
  measure "$backend" get "$CONNS" get
  measure "$backend" filter "$CONNS" filter
  measure "$backend" filter 1 filter1
  measure "$backend" create "$CONNS" create
  measure "$backend" list "$CONNS" list
  measure "$backend" expand1 "$CONNS" expand1
  measure "$backend" expandN "$CONNS" expandN
  measure "$backend" search "$CONNS" search
  measure "$backend" apply "$THREADS" apply
  measure "$backend" batch "$CONNS" batch
  stop_hub
done

mkdir -p "$REPO/bench/results"
result="$REPO/bench/results/data-$(date -u +%Y%m%dT%H%M%SZ).json"
python3 - "$WORK" "$ROWS" "$CONNS" "$DURATION" "$result" $BACKENDS <<'EOF'
import json, os, sys
work, rows, conns, duration, out, backends = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
report = {"rows": rows, "connections": int(conns), "duration_s": int(duration), "cpus": os.cpu_count(), "backends": {}}
print(f"data API, {rows:,} rows, wrk {conns} connections x {duration} s, {os.cpu_count()} CPUs")
print(f"{'backend':10} {'test':22} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
for b in backends:
    report["backends"][b] = {}
    for tag, label in [("get", "GET by id"), ("filter", "$filter eq (10 rows)"), ("filter1", "  same, 1 connection"), ("create", "POST (create)"),
                       ("list", "list 1,000 rows"), ("expand1", "  + $expand many-to-one"), ("expandN", "org + 100 contacts"),
                       ("search", "$search (10 rows)"), ("apply", "$apply groupby 1M rows"), ("batch", "$batch of 20 GETs")]:
        s = json.load(open(f"{work}/{b}-{tag}.json"))
        rps = s["requests"] / (s["duration_us"] / 1e6)
        p50, p99 = s["latency_us"]["p50"] / 1000, s["latency_us"]["p99"] / 1000
        report["backends"][b][tag] = {"req_per_s": round(rps), "p50_ms": p50, "p99_ms": p99}
        print(f"{b:10} {label:22} {rps:10,.0f} {p50:8.2f} {p99:8.2f}")
targets = report["backends"].get("sqlite")
if targets:
    print(f"targets (SQLite): GET by id >= 15,000 req/s: {targets['get']['req_per_s']:,}; "
          f"filter p50 <= 2 ms: {targets['filter1']['p50_ms']} ms (1 connection), "
          f"{targets['filter']['p50_ms']} ms (loaded); creates >= 5,000/s: {targets['create']['req_per_s']:,}")
for b in backends:
    r = report["backends"][b]
    print(f"{b}: $expand many-to-one at {r['expand1']['req_per_s'] / max(1, r['list']['req_per_s']):.2f} of the plain list's req/s "
          f"(target >= 0.50); $batch of 20 reads {20 * r['batch']['req_per_s']:,} reads/s vs {r['get']['req_per_s']:,} single GETs/s")
json.dump(report, open(out, "w"), indent=2)
print(f"written {out}")
EOF
