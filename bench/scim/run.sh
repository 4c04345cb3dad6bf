#!/usr/bin/env bash
# SCIM benchmark: GET /scim/v2/Users?filter=userName eq "…" over 100,000 users on SQLite.
#
#   bash bench/scim/run.sh
#
# Starts the hub once so it creates its tables, stops it, inserts the users straight into the
# users table with one SQL statement (posting 100,000 users through SCIM would time the loader
# and argon2, not the lookup), starts the release hub again, registers a client with the scope
# scim, checks one lookup by hand, then runs wrk with random existing userNames: under load,
# then with one connection (the unloaded latency). Prints a table and writes
# bench/results/scim-<UTC date-time>.json. Issue 20 asks for >= 5,000 req/s and p99 <= 10 ms.
#
# Knobs (environment):
#   BENCH_USERS=100000 BENCH_THREADS=2 BENCH_CONNECTIONS=32 BENCH_DURATION=10
#   BENCH_SKIP_BUILD=1       use the keyway binary as it is
#   KEYWAY_BIN=PATH          [$CARGO_TARGET_DIR/release/keyway]
#   CARGO_TARGET_DIR         [/var/tmp/keyway-target]
#   BENCH_KEEP=1             keep the temp dir (hub log, wrk output, SQLite)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
USERS=${BENCH_USERS:-100000}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
PORT=18441
URL=http://127.0.0.1:$PORT

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in wrk curl jq python3 sqlite3; do
  command -v $tool >/dev/null || die "$tool is missing (apt-get install wrk curl jq python3 sqlite3)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-bench-scim.XXXXXX")
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

DIR=$WORK/hub
DB=sqlite://$DIR/keyway.db
mkdir -p "$DIR"
start_hub() {
  "$KEYWAY_BIN" --data-dir "$DIR" --database "$DB" serve --listen 127.0.0.1:$PORT \
    >"$DIR/hub.log" 2>&1 &
  HUB_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "$URL/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "the hub did not become ready: $(cat "$DIR/hub.log")"
}

measure() { # CONNECTIONS TAG
  local conns=$1 tag=$2 threads=$THREADS
  (( conns < threads )) && threads=$conns
  BENCH_OUT="$WORK/$tag.json" BENCH_USERS=$USERS \
    wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$HERE/requests.lua" "$URL" \
    >"$WORK/$tag.txt" 2>&1 || die "wrk $tag: $(cat "$WORK/$tag.txt")"
  local errors
  errors=$(jq '.errors.status + .errors.timeout + .errors.connect' "$WORK/$tag.json")
  [[ $errors == 0 ]] || die "$tag: $errors failed requests ($(cat "$WORK/$tag.txt"))"
}

start_hub
stop_hub
log "inserting $USERS users"
# The users SCIM would have made: no password (as a SCIM user created without one), a profile.
sqlite3 "$DIR/keyway.db" \
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $USERS)
   INSERT INTO users (user_id, username, password_hash, created_at, email, email_verified,
                      name, given_name, family_name, updated_at, scim_version)
   SELECT printf('bench%07d', i), printf('user%07d', i), '!scim', 1767225600,
          printf('user%07d@example.com', i), 0, printf('User %d', i), 'User', printf('N%d', i),
          1767225600, 0 FROM n;" \
  "ANALYZE;"
start_hub
client=$("$KEYWAY_BIN" --data-dir "$DIR" --database "$DB" client create --name bench \
  --grant client_credentials --scope scim --json)
export BENCH_TOKEN
BENCH_TOKEN=$(curl -fs -u "$(jq -r .client_id <<<"$client"):$(jq -r .client_secret <<<"$client")" \
  -d grant_type=client_credentials -d scope=scim "$URL/oauth2/token" | jq -r .access_token)
probe=$(curl -fs -H "Authorization: Bearer $BENCH_TOKEN" \
  "$URL/scim/v2/Users?filter=userName%20eq%20%22user0000042%22")
[[ $(jq -r '.totalResults' <<<"$probe") == 1 && $(jq -r '.Resources[0].userName' <<<"$probe") == user0000042 ]] \
  || die "the userName eq lookup answered: $probe"
log "wrk: $CONNS connections, then 1"
measure "$CONNS" loaded
measure 1 single
stop_hub

mkdir -p "$REPO/bench/results"
result="$REPO/bench/results/scim-$(date -u +%Y%m%dT%H%M%SZ).json"
python3 - "$WORK" "$USERS" "$CONNS" "$DURATION" "$result" <<'PY'
import json, os, sys
work, users, conns, duration, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
report = {"users": users, "connections": int(conns), "duration_s": int(duration), "cpus": os.cpu_count()}
print(f'SCIM GET /Users?filter=userName eq "…", {users:,} users, SQLite, wrk {conns} connections x {duration} s, {os.cpu_count()} CPUs')
print(f"{'run':24} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
for tag, label in [("loaded", f"{conns} connections"), ("single", "1 connection")]:
    s = json.load(open(f"{work}/{tag}.json"))
    rps = s["requests"] / (s["duration_us"] / 1e6)
    p50, p99 = s["latency_us"]["p50"] / 1000, s["latency_us"]["p99"] / 1000
    report[tag] = {"req_per_s": round(rps), "p50_ms": p50, "p99_ms": p99}
    print(f"{label:24} {rps:10,.0f} {p50:8.2f} {p99:8.2f}")
t = report["loaded"]
print(f"targets: >= 5,000 req/s: {t['req_per_s']:,}; p99 <= 10 ms: {t['p99_ms']} ms")
json.dump(report, open(out, "w"), indent=2)
print(f"written {out}")
PY
