#!/usr/bin/env bash
# Gateway and token-exchange benchmark (issue 18).
#
#   bash bench/gateway/run.sh
#
# One small upstream (an nginx server block answering 32 bytes of JSON) reached two ways in
# the same run, with the same load tool (wrk, keep-alive connections):
#   - nginx     proxy_pass with an upstream keepalive pool, no authentication;
#   - keyway    GET /gateway/orders/hello with a client's bearer token: the hub checks the
#               token and the `call` rule, mints (and caches) the per-audience token for the
#               target, streams the request and answer, records the activity edge and an
#               audit entry.
# Then token exchange (RFC 8693) of a user's access token for the target: POST /oauth2/token.
# Prints req/s, p50, p99, server CPU per request (the gateway's includes the nginx upstream
# it calls) and the ratios keyway/nginx.
#
# nginx and the gateway are measured in BENCH_ROUNDS alternating rounds (nginx, then the
# gateway): each round's ratios compare two runs seconds apart, and the verdict is the median
# of the rounds' req/s ratios and the median of their p99 ratios (the lower middle one of an
# even count), so that one burst of another tenant of a shared machine does not decide it.
#
# Knobs: BENCH_ROUNDS=3 BENCH_THREADS=2 BENCH_CONNECTIONS=64 BENCH_DURATION=10 BENCH_WARMUP=2,
#        KEYWAY_WORKERS=N (the hub's connection threads; default one per CPU),
#        BENCH_SKIP_BUILD=1, KEYWAY_BIN=PATH, CARGO_TARGET_DIR [/var/tmp/keyway-target],
#        BENCH_KEEP=1 (keep the temp dir), NGINX_WORKERS=1 (or auto: nginx on every core),
#        BENCH_PROFILE=1 (perf record on the hub during round 1's gateway run; needs linux-perf;
#          BENCH_PERF_ARGS="--call-graph dwarf" adds options),
#        BENCH_UPSTREAM=own|shared: where the upstream server block runs. `own` (the default): in
#          an nginx process of its own (one worker), so that both proxies hand each call to
#          another process, as a proxy in front of an API does. `shared`: in the proxying nginx's
#          own worker, which then serves its upstream without leaving the process (the setup of
#          the figures before 2026-12-05's third section in bench/README.md).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
HOST=127.0.0.1

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS=$ROUNDS: give a number of rounds, 1 or more"
UPSTREAM=${BENCH_UPSTREAM:-own}
[[ $UPSTREAM == own || $UPSTREAM == shared ]] || die "BENCH_UPSTREAM=$UPSTREAM: give own or shared"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-gateway-bench.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [[ -n ${BENCH_KEEP:-} || $rc -ne 0 ]]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
[[ -z ${BENCH_PROFILE:-} ]] || log "profiling: perf record on the hub during the gateway run"

missing=()
for tool in wrk curl python3 nginx; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: apt-get install ${missing[*]}"
  log "apt-get install ${missing[*]}"
  { apt-get install -y -qq "${missing[@]}" || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }; } \
    >"$WORK/apt.log" 2>&1 || die "apt-get install ${missing[*]} failed: $(tail -5 "$WORK/apt.log")"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway"
  (cd "$REPO" && cargo build --release -p keyway --quiet) >&2
fi
[[ -x $KEYWAY_BIN ]] || die "no keyway binary at $KEYWAY_BIN"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP_PORT=$(free_port)
PROXY_PORT=$(free_port)
HUB_PORT=$(free_port)

# nginx_conf DIR WORKERS SERVERS: an nginx configuration serving SERVERS (server blocks).
nginx_conf() {
  mkdir -p "$1"
  cat >"$1/nginx.conf" <<CONF
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  # Connections are kept for the whole run on every hop (nginx closes them after 1000
  # requests by default; keyway's hub and gateway pool do not).
  keepalive_requests 1000000;
  upstream api { server $HOST:$UP_PORT; keepalive 128; keepalive_requests 1000000; }
$3
}
CONF
}
UPSTREAM_SERVER="  server {
    listen $HOST:$UP_PORT;
    location /api/ { default_type application/json; return 200 '{\"ok\":true,\"from\":\"upstream\"}\\n'; }
  }"
PROXY_SERVER="  server {
    listen $HOST:$PROXY_PORT;
    location /api/ { proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }"
# The proxy (NGINX_WORKERS worker processes, default 1) and, BENCH_UPSTREAM=own, the upstream
# in an nginx of its own with one worker.
if [[ $UPSTREAM == own ]]; then
  nginx_conf "$WORK/nginx" "${NGINX_WORKERS:-1}" "$PROXY_SERVER"
  nginx_conf "$WORK/upstream" 1 "$UPSTREAM_SERVER"
else
  nginx_conf "$WORK/nginx" "${NGINX_WORKERS:-1}" "$UPSTREAM_SERVER
$PROXY_SERVER"
fi
log "nginx: upstream on $UP_PORT ($UPSTREAM process), proxy on $PROXY_PORT"
"$NGINX" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
UPSTREAM_MASTER=${PIDS[0]}
if [[ $UPSTREAM == own ]]; then
  "$NGINX" -c "$WORK/upstream/nginx.conf" -g 'daemon off;' >"$WORK/upstream.log" 2>&1 &
  UPSTREAM_MASTER=$!
  PIDS+=("$UPSTREAM_MASTER")
fi

URL=http://$HOST:$HUB_PORT
DATA=$WORK/data
kw() { "$KEYWAY_BIN" --data-dir "$DATA" "$@"; }
log "keyway serve on $URL"
"$KEYWAY_BIN" --data-dir "$DATA" serve --listen "$HOST:$HUB_PORT" >"$WORK/keyway.log" 2>&1 &
PIDS+=($!)
HUB_PID=$!
for _ in $(seq 1 100); do
  curl -fs "$URL/healthz" >/dev/null 2>&1 && curl -fs "http://$HOST:$UP_PORT/api/x" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "$URL/healthz" >/dev/null || die "keyway did not start: $(cat "$WORK/keyway.log")"

field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
kw client create --name shop --grant client_credentials authorization_code refresh_token --scope "openid orders.read" \
  --redirect-uri http://127.0.0.1:9/cb --json >"$WORK/shop.json"
kw client create --name orders --grant client_credentials --scope "orders.read" \
  --api-url "http://$HOST:$UP_PORT/api" --json >"$WORK/orders.json"
SHOP=$(field client_id <"$WORK/shop.json"); SHOP_SECRET=$(field client_secret <"$WORK/shop.json")
ORDERS=$(field client_id <"$WORK/orders.json")
kw client allow shop --to orders --for call --scope orders.read >/dev/null
kw client allow shop --to orders --for exchange --scope orders.read >/dev/null
SHOP_AUTH=$(printf '%s' "$SHOP:$SHOP_SECRET" | base64 -w0)
TOKEN=$(curl -fs -H "Authorization: Basic $SHOP_AUTH" --data 'grant_type=client_credentials&scope=orders.read' \
  "$URL/oauth2/token" | field access_token)
out=$(curl -fs -H "Authorization: Bearer $TOKEN" "$URL/gateway/orders/hello")
[[ $out == *'"from":"upstream"'* ]] || die "gateway by hand: $out"

# A user's access token at the shop, to exchange (signed in once through the login form).
printf 'correct horse battery\n' | kw user create --username alice --password-stdin >/dev/null
python3 "$REPO/bench/oauth/refresh_tokens.py" "$URL" "$SHOP" "$SHOP_SECRET" alice \
  'correct horse battery' "openid orders.read" 1 "$WORK/refresh.txt" >/dev/null
USER_TOKEN=$(curl -fs -H "Authorization: Basic $SHOP_AUTH" \
  --data "grant_type=refresh_token&refresh_token=$(head -1 "$WORK/refresh.txt")" "$URL/oauth2/token" \
  | field access_token)
EXCHANGE="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=$USER_TOKEN&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=$ORDERS"
out=$(curl -s -H "Authorization: Basic $SHOP_AUTH" --data "$EXCHANGE" "$URL/oauth2/token")
[[ $out == *'"issued_token_type"'* ]] || die "exchange by hand: $out"

# CPU seconds (user + system) used so far by these processes: a steadier measure than req/s
# on a shared machine.
cpu_of() {
  local total=0 pid ticks
  for pid in "$@"; do
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + ticks))
  done
  echo "$total"
}
run_wrk() { # tag lua url pids...
  local tag=$1 lua=$2 url=$3
  shift 3
  log "$tag: warm-up ${WARMUP}s, then ${DURATION}s with $THREADS threads, $CONNS connections"
  BENCH_OUT='' wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$lua" "$url" >"$WORK/$tag.warmup.txt"
  local before after
  before=$(cpu_of "$@")
  BENCH_OUT="$WORK/$tag.json" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$lua" "$url" >"$WORK/$tag.txt"
  after=$(cpu_of "$@")
  echo $((after - before)) >"$WORK/$tag.ticks"
}
# Whose CPU each run counts: the proxy's and the upstream's processes (one and the same
# with BENCH_UPSTREAM=shared).
workers_of() { pgrep -f "nginx: worker process" -P "$1" | tr '\n' ' '; }
PROXY_PIDS=$(workers_of "${PIDS[0]}")
UPSTREAM_PIDS=$(workers_of "$UPSTREAM_MASTER")
NGINX_PIDS=$PROXY_PIDS
[[ $UPSTREAM == shared ]] || NGINX_PIDS="$PROXY_PIDS $UPSTREAM_PIDS"
for round in $(seq 1 "$ROUNDS"); do
  # shellcheck disable=SC2086  # one argument per worker
  BENCH_BEARER='' run_wrk "nginx.$round" "$HERE/get.lua" "http://$HOST:$PROXY_PORT/api/hello" $NGINX_PIDS
  if [[ -n ${BENCH_PROFILE:-} && $round == 1 ]]; then
    # cpu-clock by default: a software event, so it works where hardware counters are not
    # exposed (VMs); BENCH_PERF_EVENT=cycles:u elsewhere.
    # shellcheck disable=SC2086  # BENCH_PERF_ARGS: more perf record options (--call-graph dwarf)
    perf record -e "${BENCH_PERF_EVENT:-cpu-clock}" -F 999 ${BENCH_PERF_ARGS:-} -p "$HUB_PID" -o "$WORK/perf.data" -- sleep $((WARMUP + DURATION)) >/dev/null 2>&1 &
    PERF=$!
  fi
  # shellcheck disable=SC2086
  BENCH_BEARER=$TOKEN run_wrk "keyway-gateway.$round" "$HERE/get.lua" "$URL/gateway/orders/hello" "$HUB_PID" $UPSTREAM_PIDS
  if [[ -n ${BENCH_PROFILE:-} && $round == 1 ]]; then
    wait "$PERF" || true
    perf report -i "$WORK/perf.data" --no-children --percent-limit 1.5 --stdio 2>/dev/null | grep -v '^$' | head -80 >"$WORK/perf.txt" || true
    log "profile: $WORK/perf.txt"
  fi
done
BENCH_BODY=$EXCHANGE BENCH_AUTH=$SHOP_AUTH run_wrk token-exchange "$REPO/bench/oauth/post.lua" "$URL/oauth2/token" "$HUB_PID"

echo
echo "keyway $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), $("$NGINX" -v 2>&1 | sed 's/.*: //') (upstream: $UPSTREAM process), SQLite, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK" "$ROUNDS" <<'PY'
import json, os, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])

def run(tag):
    w = json.load(open(f"{work}/{tag}.json"))
    ticks = int(open(f"{work}/{tag}.ticks").read())
    return {
        "rps": w["requests"] / (w["duration_us"] / 1e6),
        "p50": w["latency_us"]["p50"] / 1000,
        "p99": w["latency_us"]["p99"] / 1000,
        "errors": sum(w["errors"].values()),
        "cpu_us": ticks / os.sysconf("SC_CLK_TCK") * 1e6 / max(w["requests"], 1),
    }

def line(name, r):
    print(f'{name:<18} {r["rps"]:>9.0f} req/s   p50 {r["p50"]:6.2f} ms   p99 {r["p99"]:6.2f} ms   '
          f'errors {r["errors"]}   server CPU {r["cpu_us"]:5.1f} µs/request')

ratios = []
for n in range(1, rounds + 1):
    nginx, gateway = run(f"nginx.{n}"), run(f"keyway-gateway.{n}")
    line(f"nginx #{n}", nginx)
    line(f"keyway-gateway #{n}", gateway)
    ratios.append((gateway["rps"] / nginx["rps"], gateway["p99"] / nginx["p99"]))
    print(f"  round {n}: req/s {ratios[-1][0]:.2f} x nginx, p99 {ratios[-1][1]:.2f} x nginx")
exchange = run("token-exchange")
line("token-exchange", exchange)
rps_ratio = statistics.median_low(r for r, _ in ratios)
p99_ratio = statistics.median_low(p for _, p in ratios)
print(f"gateway (median of {rounds} rounds, each ratio on its own) req/s / nginx: {rps_ratio:.2f} "
      f"(target >= 0.60); p99 / nginx: {p99_ratio:.2f} (target <= 2)")
print(f"token exchange: {exchange['rps']:.0f}/s (target >= 5000)")
PY
