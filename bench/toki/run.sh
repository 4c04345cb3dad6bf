#!/usr/bin/env bash
# toki layer overhead: axum endpoints served twice in one process, with the toki layer and
# without, loaded with wrk in the same run; prints req/s of each and the ratio on/off
# (target ≥ 85%). Two endpoints: `GET /v1/hello` (5 bytes: the framework's floor, where the
# layer's fixed cost weighs most) and `GET /v1/entries` (~1 KiB of JSON from serde_json).
#
#   bash bench/toki/run.sh
#
# The layered run sends real request tokens: `toki_bench tokens` opens one session per wrk
# thread and signs enough tokens for the run just before it starts (they are fresh for 30 s,
# so BENCH_DURATION + BENCH_WARMUP must stay well under that). The layer verifies each one
# (MAC, skew, replay window) and signs each answer, as in production.
#
# Knobs (environment):
#   BENCH_THREADS=2 BENCH_CONNECTIONS=64 BENCH_DURATION=5 BENCH_WARMUP=2   wrk load, seconds
#   BENCH_ROUNDS=3                  off/on pairs per endpoint; the median ratio is reported
#   BENCH_TOKENS_PER_SECOND=80000   per-thread token supply is this × seconds (per thread)
#   BENCH_SKIP_BUILD=1              use the toki_bench binary as it is
#   BENCH_ENDPOINTS="/v1/hello /v1/entries"
#   CARGO_TARGET_DIR                [/var/tmp/keyway-target]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
WARMUP=${BENCH_WARMUP:-2}
RATE=${BENCH_TOKENS_PER_SECOND:-60000}
ENDPOINTS=${BENCH_ENDPOINTS:-/v1/hello /v1/entries}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
BIN=$CARGO_TARGET_DIR/release/examples/toki_bench
HOST=127.0.0.1 # the only target, ever

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-toki-bench.XXXXXX")
SERVER_PID=
cleanup() {
  local rc=$?
  if [[ -n $SERVER_PID ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "wrk is missing: apt-get install wrk"
  log "apt-get install wrk"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null \
    || die "could not install wrk"
fi
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway-toki-http --example toki_bench"
  (cd "$REPO" && cargo build --release -q -p keyway-toki-http --example toki_bench) >&2
fi
[[ -x $BIN ]] || die "no binary at $BIN"

"$BIN" serve >"$WORK/ports" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  [[ -s $WORK/ports ]] && break
  sleep 0.1
done
read -r ON OFF < <(sed 's/on=\([0-9]*\) off=\([0-9]*\)/\1 \2/' "$WORK/ports")
[[ -n ${ON:-} && -n ${OFF:-} ]] || die "server did not start: $(cat "$WORK/server.log")"
log "layer on: http://$HOST:$ON, layer off: http://$HOST:$OFF"

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; } # utime + stime

# run_wrk <tag> <port> <seconds> <tokens dir or ''>: prints "requests/s server-CPU-µs/request";
# fails on any non-2xx. Server CPU per request does not depend on what else the machine runs,
# so it is the steadier figure when the two cores are shared.
run_wrk() {
  local tag=$1 port=$2 seconds=$3 tokens=$4 out=$WORK/$1.txt c0 c1
  c0=$(cpu_ticks)
  TOKI_PATH=$ENDPOINT TOKI_TOKENS_DIR=$tokens wrk -t"$THREADS" -c"$CONNS" -d"${seconds}s" --latency \
    -s "$HERE/tokens.lua" "http://$HOST:$port$ENDPOINT" >"$out" 2>&1 \
    || die "$tag: wrk failed: $(cat "$out")"
  if grep -q 'Non-2xx' "$out"; then
    die "$tag: refused requests (tokens stale or exhausted?): $(grep Non-2xx "$out")"
  fi
  c1=$(cpu_ticks)
  awk -v ticks=$((c1 - c0)) -v hz="$CLK_TCK" '
    /requests in/ { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    END { printf "%s %.2f\n", rps, ticks / hz * 1e6 / requests }' "$out"
}

# make_tokens <tag> <seconds>: a fresh token directory for one wrk run on the layered port.
make_tokens() {
  local dir=$WORK/tokens-$1
  rm -rf "$dir"
  mkdir -p "$dir"
  "$BIN" tokens "http://$HOST:$ON" "$ENDPOINT" "$THREADS" $((RATE * $2 + 10000)) "$dir"
  printf '%s' "$dir"
}

# Per endpoint, interleaved rounds: off, on, off, on… so drift on a shared machine (builds,
# other benchmarks) hits both; each round gives a ratio, and the median is reported.
RESULTS=$WORK/results
for ENDPOINT in $ENDPOINTS; do
  tag=$(basename "$ENDPOINT")
  log "$ENDPOINT: warm-up ${WARMUP}s each"
  run_wrk "$tag-warm-off" "$OFF" "$WARMUP" "" >/dev/null
  run_wrk "$tag-warm-on" "$ON" "$WARMUP" "$(make_tokens warm "$WARMUP")" >/dev/null
  for round in $(seq 1 "$ROUNDS"); do
    log "$ENDPOINT round $round/$ROUNDS: ${DURATION}s off, ${DURATION}s on ($THREADS threads, $CONNS connections)"
    off=$(run_wrk "$tag-off-$round" "$OFF" "$DURATION" "")
    on=$(run_wrk "$tag-on-$round" "$ON" "$DURATION" "$(make_tokens on "$DURATION")")
    grep -E '^ +(50|99)%' "$WORK/$tag-off-$round.txt" | tr -s ' ' | sed "s|^|  off|" >&2
    grep -E '^ +(50|99)%' "$WORK/$tag-on-$round.txt" | tr -s ' ' | sed "s|^|  on |" >&2
    printf '%s %s %s %s\n' "$ENDPOINT" "$round" "$off" "$on" >>"$RESULTS"
  done
done

printf 'machine: %s cores, load average before/after: %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
# Columns of $RESULTS: endpoint round off_rps off_cpu_us on_rps on_cpu_us.
awk 'BEGIN { printf "%-12s %5s %10s %10s %7s %12s %12s %7s\n", "endpoint", "round", "off req/s",
  "on req/s", "on/off", "off µs/req", "on µs/req", "off/on" }
{ r = $5 / $3 * 100; c = $4 / $6 * 100
  printf "%-12s %5s %10.0f %10.0f %6.1f%% %12.2f %12.2f %6.1f%%\n", $1, $2, $3, $5, r, $4, $6, c
  ratios[$1] = ratios[$1] " " r; cpus[$1] = cpus[$1] " " c }
function median(list,   n, v, i, j, t) {
  n = split(substr(list, 2), v, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
  return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
END {
  for (e in ratios)
    printf "%-12s median req/s on/off %.1f%%, server CPU per request off/on %.1f%% (target >= 85%%)\n",
      e, median(ratios[e]), median(cpus[e])
}' "$RESULTS"
