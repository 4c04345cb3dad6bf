#!/usr/bin/env bash
# Refresh-grant load benchmark (issue 20): token issuance for a user in 10 groups holding 50
# user-granted scopes through them — the refresh grant reads the grants on every call.
#
#   bash bench/oauth/refresh.sh
#
# Builds keyway (release), starts `keyway serve` on SQLite with `user_granted_scopes = ["s*"]`,
# makes the user, 10 groups (5 scopes granted to each) and a code-flow client, signs the user
# in once (login form, consent) and makes refresh tokens through that session
# (refresh_tokens.py), checks one refresh by hand (all 50 scopes granted), then runs wrk:
# client_credentials issuance as the reference, then refresh grants (refresh.lua rotates each
# token once). Prints requests/s, p99 and the ratio of the two from the same run.
#
# Knobs: BENCH_THREADS=2 BENCH_CONNECTIONS=64 BENCH_DURATION=10 BENCH_WARMUP=2,
#        BENCH_SKIP_BUILD=1, KEYWAY_BIN=PATH, CARGO_TARGET_DIR [/var/tmp/keyway-target],
#        BENCH_KEEP=1 (keep the temp dir)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
HOST=127.0.0.1

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-refresh-bench.XXXXXX")
PID=
cleanup() {
  local rc=$?
  [[ -z $PID ]] || { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  if [[ -n ${BENCH_KEEP:-} || $rc -ne 0 ]]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT

missing=()
for tool in wrk curl python3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: apt-get install ${missing[*]}"
  log "apt-get install ${missing[*]}"
  { apt-get install -y -qq "${missing[@]}" || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }; } \
    >"$WORK/apt.log" 2>&1 || die "apt-get install ${missing[*]} failed: $(tail -5 "$WORK/apt.log")"
fi
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway"
  (cd "$REPO" && cargo build --release -p keyway --quiet) >&2
fi
[[ -x $KEYWAY_BIN ]] || die "no keyway binary at $KEYWAY_BIN"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://$HOST:$PORT
DATA=$WORK/data
mkdir -p "$DATA"
printf '[oauth]\nuser_granted_scopes = ["s*"]\n' >"$WORK/keyway.toml"
kw() { "$KEYWAY_BIN" --data-dir "$DATA" --config "$WORK/keyway.toml" "$@"; }

log "keyway serve on $URL"
# The binary itself, not through kw(): $! must be the server's PID for cleanup to stop it.
"$KEYWAY_BIN" --data-dir "$DATA" --config "$WORK/keyway.toml" serve --listen "$HOST:$PORT" \
  >"$WORK/keyway.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  curl -fs "$URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || die "keyway exited: $(cat "$WORK/keyway.log")"
  sleep 0.1
done

SCOPES="openid offline_access $(printf 's%02d ' $(seq 0 49))"
log "user alice in 10 groups, 5 scopes granted to each"
printf 'correct horse battery\n' | kw user create --username alice --password-stdin >/dev/null
for g in $(seq 0 9); do
  kw group create "g$g" >/dev/null
  kw group add "g$g" alice >/dev/null
  kw group grant "g$g" --scope "$(printf 's%02d ' $(seq $((g * 5)) $((g * 5 + 4))))" >/dev/null
done
kw client create --name refresh-bench --grant authorization_code refresh_token \
  --scope "$SCOPES" --redirect-uri http://127.0.0.1:9/cb --json >"$WORK/client.json"
CLIENT_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <"$WORK/client.json")
SECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <"$WORK/client.json")
AUTH=$(printf '%s' "$CLIENT_ID:$SECRET" | base64 -w0)

TOKENS=$((CONNS * 2))
log "signing alice in and making $TOKENS + $TOKENS refresh tokens"
for file in tokens warmup; do
  granted=$(python3 "$HERE/refresh_tokens.py" "$URL" "$CLIENT_ID" "$SECRET" alice \
    'correct horse battery' "$SCOPES" "$TOKENS" "$WORK/$file.txt")
done
count=$(wc -w <<<"$granted")
[[ $count -eq 52 ]] || die "expected openid, offline_access and 50 granted scopes, got $count: $granted"
# One refresh by hand: the answer carries the 50 scopes again.
first=$(head -1 "$WORK/warmup.txt")
sed -i 1d "$WORK/warmup.txt"
out=$(curl -s -H "Authorization: Basic $AUTH" --data "grant_type=refresh_token&refresh_token=$first" "$URL/oauth2/token")
[[ $out == *'"refresh_token":"'* && $out == *s49* ]] || die "refresh by hand: $out"

summary() { # tag
  python3 - "$WORK/$1.json" "$1" <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))
rps = w["requests"] / (w["duration_us"] / 1e6)
errors = sum(w["errors"].values())
print(f'{sys.argv[2]:<24} {rps:>9.0f} req/s   p50 {w["latency_us"]["p50"]/1000:6.2f} ms   p99 {w["latency_us"]["p99"]/1000:6.2f} ms   errors {errors}')
PY
}
run_wrk() { # tag lua url
  log "$1: warm-up ${WARMUP}s, then ${DURATION}s with $THREADS threads, $CONNS connections"
  BENCH_OUT='' wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$2" "$3" >"$WORK/$1.warmup.txt"
  BENCH_OUT="$WORK/$1.json" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$2" "$3" \
    >"$WORK/$1.txt"
}

# The reference: a client_credentials client's issuance, same hub, same run.
kw client create --name cc-bench --grant client_credentials --scope "read" --json >"$WORK/cc.json"
CC_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <"$WORK/cc.json")
CC_SECRET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <"$WORK/cc.json")
CC_AUTH=$(printf '%s' "$CC_ID:$CC_SECRET" | base64 -w0)
BENCH_BODY='grant_type=client_credentials&scope=read' BENCH_AUTH=$CC_AUTH \
  run_wrk client-credentials "$HERE/post.lua" "$URL/oauth2/token"
BENCH_AUTH=$AUTH BENCH_TOKENS="$WORK/tokens.txt" BENCH_TOKENS_WARMUP="$WORK/warmup.txt" \
  BENCH_THREADS_N=$THREADS run_wrk refresh-50-scopes "$HERE/refresh.lua" "$URL/oauth2/token"

echo
echo "keyway $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), SQLite, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
summary client-credentials
summary refresh-50-scopes
python3 - "$WORK/client-credentials.json" "$WORK/refresh-50-scopes.json" <<'PY'
import json, sys
rate = lambda p: (lambda w: w["requests"] / (w["duration_us"] / 1e6))(json.load(open(p)))
print(f"refresh grant (10 groups, 50 scopes) / client_credentials: {rate(sys.argv[2]) / rate(sys.argv[1]):.2f}")
PY
