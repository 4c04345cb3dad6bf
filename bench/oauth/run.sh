#!/usr/bin/env bash
# OAuth load benchmark: keyway's hub against node oidc-provider, same load tool and load.
#
#   bash bench/oauth/run.sh
#
# Installs what it lacks (wrk, curl, node/npm from Debian; oidc-provider from the npm lockfile),
# builds keyway (release), then for each server: starts it on 127.0.0.1, checks one token and
# one introspection by hand, records idle RSS, runs wrk (warm-up, then the measured run) on
# client_credentials issuance and on introspection of a valid token, records RSS after load,
# and stops it. Prints a table and writes bench/results/oauth-<UTC date-time>.json.
#
# Knobs (environment):
#   BENCH_THREADS=2 BENCH_CONNECTIONS=64 BENCH_DURATION=10 BENCH_WARMUP=2   wrk load, seconds
#   BENCH_WRK_TIMEOUT=5           wrk per-request timeout, seconds
#   BENCH_SKIP_BUILD=1            use the keyway binary as it is
#   KEYWAY_BIN=PATH               keyway binary [$CARGO_TARGET_DIR/release/keyway]
#   CARGO_TARGET_DIR              [/var/tmp/keyway-target]
#   BENCH_KEEP=1                  keep the temp dir (logs, wrk output, SQLite)
#   BENCH_ONLY=keyway|oidc-provider   run one server only (no ratios then)
#   BENCH_DPOP_PROOFS=400000      DPoP proofs made for keyway's DPoP-bound issuance run (each
#                                 sent once; raise it if that run reports non-2xx answers)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
WRK_TIMEOUT=${BENCH_WRK_TIMEOUT:-5}
ONLY=${BENCH_ONLY:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
OP_DIR=$HERE/oidc-provider
LUA=$HERE/post.lua
HOST=127.0.0.1 # the only target, ever

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup: always stop servers
WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-bench.XXXXXX")
SERVER_PIDS=()
cleanup() {
  local rc=$? pid i
  [[ -z ${CHILD_PID:-} ]] || kill -TERM "$CHILD_PID" 2>/dev/null || true
  for pid in "${SERVER_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${SERVER_PIDS[@]}"; do
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n ${BENCH_KEEP:-} || $rc -ne 0 ]]; then
    log "work files kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stop_server() { # pid
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local rest=() p # forget it, so that cleanup never signals a reused PID
  for p in "${SERVER_PIDS[@]}"; do [[ $p == "$pid" ]] || rest+=("$p"); done
  SERVER_PIDS=("${rest[@]}")
}

# ---------------------------------------------------------------- install what is missing
APT_UPDATED=
apt_install() { # packages…
  [[ $(id -u) -eq 0 ]] || die "missing $*; run as root or install them: apt-get install $*"
  log "apt-get install $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$WORK/apt.log" 2>&1; then
    [[ -z $APT_UPDATED ]] || { cat "$WORK/apt.log" >&2; die "apt-get install $* failed"; }
    APT_UPDATED=1
    log "apt-get update"
    apt-get update -qq >>"$WORK/apt.log" 2>&1 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$WORK/apt.log" 2>&1 \
      || { cat "$WORK/apt.log" >&2; die "apt-get install $* failed"; }
  fi
}
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v timeout >/dev/null || need+=(coreutils)
command -v node >/dev/null || need+=(nodejs) # report.mjs and helpers need it too
[[ $ONLY == keyway ]] || command -v npm >/dev/null || need+=(npm)
((${#need[@]} == 0)) || apt_install "${need[@]}"

if [[ $ONLY != keyway ]]; then
  if [[ ! -f $OP_DIR/node_modules/oidc-provider/package.json \
     || $OP_DIR/package-lock.json -nt $OP_DIR/node_modules/.package-lock.json ]]; then
    log "npm ci in bench/oauth/oidc-provider"
    (cd "$OP_DIR" && timeout 600 npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
fi

if [[ $ONLY != oidc-provider && -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$REPO" && cargo build --release -p keyway --quiet) >&2
fi
[[ $ONLY == oidc-provider || -x $KEYWAY_BIN ]] || die "no keyway binary at $KEYWAY_BIN"

# ---------------------------------------------------------------- helpers
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
wait_http() { # url pid name
  local i
  for i in $(seq 1 150); do
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (log: $WORK/$3.log)"
    curl -fs -o /dev/null -m 1 "$1" && return 0
    sleep 0.2
  done
  die "$3 did not answer $1 within 30 s"
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # utime + stime
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; } # all CPUs, not idle
CLK_TCK=$(getconf CLK_TCK)
b64() { printf '%s' "$1" | base64 -w0; }
json_field() { # field < json
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];if(v===undefined)process.exit(1);console.log(v)})' "$1"
}
post() { # url auth_b64 body -> prints "HTTP_CODE BODY"
  curl -s -m 5 -H "Authorization: Basic $2" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-raw "$3" -w '\n%{http_code}' "$1"
}
# Checks one request by hand before loading; fails the run if the answer is wrong.
check_post() { # name url auth body expect_regex
  local out code bodytext
  out=$(post "$2" "$3" "$4")
  code=${out##*$'\n'}
  bodytext=${out%$'\n'*}
  [[ $code == 200 && $bodytext =~ $5 ]] || die "$1: expected 200 matching /$5/, got $code: $bodytext"
  printf '%s' "$bodytext"
}

# Runs the warm-up, then the measured wrk run; writes $WORK/<tag>.json (wrk summary + CPU).
# Runs "$@" in the background, output to OUT_FILE, and waits for it, so that a signal's trap
# fires at once (and still writes to the script's own stderr).
CHILD_PID=
run_child() { # out_file cmd…
  local out=$1
  shift
  "$@" >"$out" 2>&1 &
  CHILD_PID=$!
  local rc=0
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=
  return "$rc"
}
# CPU seconds (user + system) of this shell's waited-for children, from `times >FILE` (which
# must run in this shell, not in a $(…) subshell).
children_cpu_s() { # file
  awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"
}

# Runs the warm-up, then the measured wrk run; writes $WORK/<tag>.json (wrk summary + CPU).
bench() { # tag server_pid url body auth_b64
  local tag=$1 pid=$2 url=$3 body=$4 auth=$5 t0 t1 b0 b1 c0 c1 w0 w1
  export BENCH_BODY=$body BENCH_AUTH=$auth
  log "$tag: warm-up ${WARMUP}s"
  run_child "$WORK/$tag.warmup.txt" env BENCH_OUT='' timeout $((WARMUP + 30)) \
    wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" --timeout "${WRK_TIMEOUT}s" -s "$LUA" "$url" \
    || die "$tag: wrk warm-up failed: $(cat "$WORK/$tag.warmup.txt")"
  log "$tag: measured ${DURATION}s, $THREADS threads, $CONNS connections"
  times >"$WORK/times.0"
  t0=$(cpu_ticks "$pid")
  b0=$(busy_ticks)
  w0=$EPOCHREALTIME
  run_child "$WORK/$tag.txt" env BENCH_OUT="$WORK/$tag.wrk.json" timeout $((DURATION + 30)) \
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout "${WRK_TIMEOUT}s" --latency \
    -s "$LUA" "$url" \
    || die "$tag: wrk failed: $(cat "$WORK/$tag.txt")"
  w1=$EPOCHREALTIME
  t1=$(cpu_ticks "$pid")
  b1=$(busy_ticks)
  times >"$WORK/times.1"
  c0=$(children_cpu_s "$WORK/times.0")
  c1=$(children_cpu_s "$WORK/times.1")
  kill -0 "$pid" 2>/dev/null || die "$tag: server died under load"
  node -e '
    const fs = require("fs");
    const [out, wrkJson, ticks, busy, hz, w0, w1, c0, c1] = process.argv.slice(1);
    const w = JSON.parse(fs.readFileSync(wrkJson, "utf8"));
    w.server_cpu_s = Number(ticks) / Number(hz);
    w.wrk_cpu_s = Number(c1) - Number(c0);
    w.machine_busy_cpu_s = Number(busy) / Number(hz);
    // CPU used by everything else on the machine meanwhile (builds, tests…): noise.
    w.other_cpu_s = Math.max(0, w.machine_busy_cpu_s - w.server_cpu_s - w.wrk_cpu_s);
    w.wall_s = Number(w1) - Number(w0);
    fs.writeFileSync(out, JSON.stringify(w));
  ' "$WORK/$tag.json" "$WORK/$tag.wrk.json" "$((t1 - t0))" "$((b1 - b0))" "$CLK_TCK" "$w0" "$w1" "$c0" "$c1"
  unset BENCH_BODY BENCH_AUTH
}

meta() { # key value… -> appends to $WORK/meta.env (read by report.mjs)
  printf '%s=%s\n' "$1" "$2" >>"$WORK/meta.env"
}

ISSUE_BODY='grant_type=client_credentials&scope=read+write'
: >"$WORK/meta.env"
meta threads "$THREADS"; meta connections "$CONNS"; meta duration_s "$DURATION"; meta warmup_s "$WARMUP"
meta wrk_version "$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
meta nproc "$(nproc)"
meta loadavg_before "$(cut -d' ' -f1-3 /proc/loadavg)"
meta kernel "$(uname -r)"

# ---------------------------------------------------------------- keyway
if [[ $ONLY != oidc-provider ]]; then
  KW_DIR=$WORK/keyway-data
  mkdir -p "$KW_DIR"
  KW_PORT=$(free_port)
  KW_URL=http://$HOST:$KW_PORT
  # `keyway serve` creates the store; admin commands only use it.
  log "keyway: serve on $KW_URL"
  "$KEYWAY_BIN" --data-dir "$KW_DIR" serve --listen "$HOST:$KW_PORT" >"$WORK/keyway.log" 2>&1 &
  KW_PID=$!
  SERVER_PIDS+=("$KW_PID")
  wait_http "$KW_URL/healthz" "$KW_PID" keyway

  log "keyway: creating client"
  "$KEYWAY_BIN" --data-dir "$KW_DIR" client create --name bench --grant client_credentials \
    --scope "read write" --json >"$WORK/keyway-client.json" 2>"$WORK/keyway-client.log" \
    || die "keyway client create failed: $(cat "$WORK/keyway-client.log")"
  KW_ID=$(json_field client_id <"$WORK/keyway-client.json")
  KW_SECRET=$(json_field client_secret <"$WORK/keyway-client.json")
  KW_AUTH=$(b64 "$KW_ID:$KW_SECRET")

  resp=$(check_post "keyway token" "$KW_URL/oauth2/token" "$KW_AUTH" "$ISSUE_BODY" '"access_token":"ey')
  KW_TOKEN=$(json_field access_token <<<"$resp")
  check_post "keyway introspection" "$KW_URL/oauth2/introspect" "$KW_AUTH" "token=$KW_TOKEN" \
    '"active":true' >/dev/null
  meta keyway_version "$("$KEYWAY_BIN" --version 2>/dev/null | awk '{print $2}')"
  meta keyway_git "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- crates 2>/dev/null || echo +dirty)${BENCH_SKIP_BUILD:+ (not rebuilt)}"
  meta keyway_binary_built "$(date -u -r "$KEYWAY_BIN" +%Y-%m-%dT%H:%M:%SZ)"
  meta keyway_threads "$(awk '/^Threads:/ {print $2}' "/proc/$KW_PID/status")"
  sleep 1
  meta keyway_rss_idle_kib "$(rss_kib "$KW_PID")"

  bench keyway-issuance "$KW_PID" "$KW_URL/oauth2/token" "$ISSUE_BODY" "$KW_AUTH"
  bench keyway-introspection "$KW_PID" "$KW_URL/oauth2/introspect" "token=$KW_TOKEN" "$KW_AUTH"

  # DPoP-bound issuance (RFC 9449): the same request with a fresh proof in a DPoP header.
  # Proofs are made in advance (one Ed25519 key, a new jti each) and each is sent once.
  PROOFS=${BENCH_DPOP_PROOFS:-400000}
  log "keyway: making $PROOFS + $((PROOFS / 4)) DPoP proofs"
  node "$HERE/dpop_proofs.mjs" "$PROOFS" "$KW_URL/oauth2/token" "$WORK/proofs.txt"
  node "$HERE/dpop_proofs.mjs" $((PROOFS / 4)) "$KW_URL/oauth2/token" "$WORK/proofs-warmup.txt"
  first=$(head -1 "$WORK/proofs-warmup.txt")
  out=$(curl -s -m 5 -H "Authorization: Basic $KW_AUTH" -H "DPoP: $first" \
    --data-raw "$ISSUE_BODY" "$KW_URL/oauth2/token")
  [[ $out == *'"token_type":"DPoP"'* ]] || die "keyway DPoP token: $out"
  sed -i 1d "$WORK/proofs-warmup.txt"
  export BENCH_PROOFS=$WORK/proofs.txt BENCH_PROOFS_WARMUP=$WORK/proofs-warmup.txt \
    BENCH_THREADS_N=$THREADS
  bench keyway-dpop-issuance "$KW_PID" "$KW_URL/oauth2/token" "$ISSUE_BODY" "$KW_AUTH"
  unset BENCH_PROOFS BENCH_PROOFS_WARMUP BENCH_THREADS_N
  check_post "keyway introspection after load" "$KW_URL/oauth2/introspect" "$KW_AUTH" \
    "token=$KW_TOKEN" '"active":true' >/dev/null
  meta keyway_rss_after_kib "$(rss_kib "$KW_PID")"
  meta keyway_rss_peak_kib "$(hwm_kib "$KW_PID")"
  stop_server "$KW_PID"
fi

# ---------------------------------------------------------------- oidc-provider
if [[ $ONLY != keyway ]]; then
  OP_PORT=$(free_port)
  OP_URL=http://$HOST:$OP_PORT
  OP_ID=bench
  OP_SECRET=$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
  OP_AUTH=$(b64 "$OP_ID:$OP_SECRET")
  log "oidc-provider: serve on $OP_URL"
  (cd "$OP_DIR" && exec env NODE_ENV=production PORT="$OP_PORT" CLIENT_ID="$OP_ID" \
    CLIENT_SECRET="$OP_SECRET" node server.mjs) >"$WORK/oidc-provider.log" 2>&1 &
  OP_PID=$!
  SERVER_PIDS+=("$OP_PID")
  wait_http "$OP_URL/.well-known/openid-configuration" "$OP_PID" oidc-provider

  resp=$(check_post "oidc-provider token" "$OP_URL/oauth2/token" "$OP_AUTH" "$ISSUE_BODY" '"access_token":"ey')
  OP_JWT=$(json_field access_token <<<"$resp")
  # oidc-provider will not introspect JWT access tokens; confirm that, then use an opaque one.
  out=$(post "$OP_URL/oauth2/introspect" "$OP_AUTH" "token=$OP_JWT")
  meta oidc_provider_jwt_introspection "${out//$'\n'/ HTTP }"
  resp=$(check_post "oidc-provider opaque token" "$OP_URL/oauth2/token" "$OP_AUTH" \
    "$ISSUE_BODY&resource=urn%3Akeyway-bench%3Aopaque" '"access_token":"')
  OP_OPAQUE=$(json_field access_token <<<"$resp")
  check_post "oidc-provider introspection" "$OP_URL/oauth2/introspect" "$OP_AUTH" "token=$OP_OPAQUE" \
    '"active":true' >/dev/null
  meta oidc_provider_version "$(node -p "require('$OP_DIR/node_modules/oidc-provider/package.json').version")"
  meta node_version "$(node --version)"
  sleep 1
  meta oidc_provider_rss_idle_kib "$(rss_kib "$OP_PID")"

  bench oidc-provider-issuance "$OP_PID" "$OP_URL/oauth2/token" "$ISSUE_BODY" "$OP_AUTH"
  bench oidc-provider-introspection "$OP_PID" "$OP_URL/oauth2/introspect" "token=$OP_OPAQUE" "$OP_AUTH"
  check_post "oidc-provider introspection after load" "$OP_URL/oauth2/introspect" "$OP_AUTH" \
    "token=$OP_OPAQUE" '"active":true' >/dev/null
  meta oidc_provider_rss_after_kib "$(rss_kib "$OP_PID")"
  meta oidc_provider_rss_peak_kib "$(hwm_kib "$OP_PID")"
  stop_server "$OP_PID"
fi

meta loadavg_after "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report
mkdir -p "$REPO/bench/results"
OUT=$REPO/bench/results/oauth-$(date -u +%Y-%m-%dT%H%M%SZ).json
node "$HERE/report.mjs" "$WORK" "$OUT"
log "wrote ${OUT#"$REPO"/}"
