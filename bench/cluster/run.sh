#!/usr/bin/env bash
# Cluster benchmark (issue 19): what the cluster machinery costs on one machine.
#
#   bash bench/cluster/run.sh
#
# Three `keyway serve` nodes on one PostgreSQL database, behind HAProxy configured as
# deploy/haproxy.cfg (round robin, /readyz checks), with 1, 2 and then 3 of them in the
# backend, in the same run. Four loads through HAProxy, each with wrk (keep-alive):
#   - issue       POST /oauth2/token (client_credentials; no database write)
#   - introspect  POST /oauth2/introspect of one token
#   - bearer      GET /link/v1/stats with a bearer token (the hub's cheapest API read)
#   - toki        GET /link/v1/stats with toki request tokens (one session per wrk thread,
#                 opened through HAProxy: its calls land on every node, each claimed once in
#                 the database's replay_claims — the cluster-wide replay protection)
# The machine has 2 cores, so more nodes cannot add throughput: what is measured is how much
# of one node's req/s remains with 3 (target >= 80%), the CPU per call of the whole system
# (nodes + PostgreSQL + HAProxy), the cost of toki's cluster-wide replay claim (toki − bearer,
# per call), and, last, issuance p99 while one of three nodes is killed (SIGKILL) and
# restarted under load.
#
# Knobs: BENCH_THREADS=2 BENCH_CONNECTIONS=32 BENCH_DURATION=8 BENCH_WARMUP=2,
#        BENCH_SKIP_BUILD=1, KEYWAY_BIN, CARGO_TARGET_DIR [/var/tmp/keyway-target],
#        BENCH_POSTGRES_URL [postgres://postgres@127.0.0.1:5432/postgres], BENCH_KEEP=1,
#        BENCH_TOKI_RATE=15000 (toki tokens made per wrk thread and second)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-8}
WARMUP=${BENCH_WARMUP:-2}
PG=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
TOKI_BENCH=$CARGO_TARGET_DIR/release/examples/toki_bench
HOST=127.0.0.1
DB=kw_bench_cluster
# Tokens made per wrk thread and second of a toki run (more than the hub can take: a thread
# that ran out would replay its first tokens and count refusals).
TOKI_RATE=${BENCH_TOKI_RATE:-15000}

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-cluster-bench.XXXXXX")
NODE_PIDS=(0 0 0)
HAPROXY_PID=
cleanup() {
  local rc=$?
  [[ -z $HAPROXY_PID ]] || kill "$HAPROXY_PID" 2>/dev/null || true
  for pid in "${NODE_PIDS[@]}"; do
    [[ $pid == 0 ]] || { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  done
  psql -q "$PG" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ -n ${BENCH_KEEP:-} || $rc -ne 0 ]]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT

for tool in wrk haproxy psql curl python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install wrk haproxy postgresql-client curl python3)"
done
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway, and toki_bench"
  (cd "$REPO" && cargo build --release -q -p keyway && cargo build --release -q -p keyway-toki-http --example toki_bench) >&2
fi
[[ -x $KEYWAY_BIN && -x $TOKI_BENCH ]] || die "no keyway or toki_bench binary under $CARGO_TARGET_DIR/release"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LB_PORT=$(free_port)
STATS_PORT=$(free_port)
PORTS=("$(free_port)" "$(free_port)" "$(free_port)")
LB=http://$HOST:$LB_PORT

psql -q "$PG" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql -q "$PG" -c "CREATE DATABASE $DB" >/dev/null
export KEYWAY_DATABASE=${PG%/*}/$DB
export KEYWAY_MASTER_KEY_FILE=$WORK/master.key
export KEYWAY_ISSUER=$LB
(umask 077 && openssl rand -base64 32 >"$KEYWAY_MASTER_KEY_FILE")

start_node() { # index (0-based)
  local i=$1
  "$KEYWAY_BIN" serve --listen "$HOST:${PORTS[$i]}" --data-dir "$WORK/node$i" --node-id "node$((i + 1))" \
    --trusted-proxy 127.0.0.1 >>"$WORK/node$i.log" 2>&1 &
  NODE_PIDS[i]=$!
  for _ in $(seq 1 200); do
    curl -fs "http://$HOST:${PORTS[$i]}/readyz" >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "node $((i + 1)) did not become ready: $(tail -5 "$WORK/node$i.log")"
}
log "three nodes on $KEYWAY_DATABASE"
for i in 0 1 2; do start_node "$i"; done

start_haproxy() { # number of nodes in the backend
  local n=$1 i
  sed -e "s/bind :80\$/bind $HOST:$LB_PORT/" -e "s/bind 127.0.0.1:8404/bind $HOST:$STATS_PORT/" \
    -e '/^    server node/d' "$REPO/deploy/haproxy.cfg" >"$WORK/haproxy-$n.cfg"
  for i in $(seq 0 $((n - 1))); do
    # The server lines go right after the backend's other settings (before the stats section).
    sed -i "/^    http-reuse safe/a\\    server node$((i + 1)) $HOST:${PORTS[$i]} check" "$WORK/haproxy-$n.cfg"
  done
  haproxy -f "$WORK/haproxy-$n.cfg" >"$WORK/haproxy-$n.log" 2>&1 &
  HAPROXY_PID=$!
  for _ in $(seq 1 100); do
    csv=$(curl -s "http://$HOST:$STATS_PORT/stats;csv" || true) # not listening yet: try again
    up=$(printf '%s\n' "$csv" | awk -F, '$1 == "keyway" && $2 ~ /^node/ && $18 == "UP"' | wc -l)
    [[ $up -ge $n ]] && return
    sleep 0.1
  done
  die "haproxy did not see $n nodes up: $(cat "$WORK/haproxy-$n.log")"
}
stop_haproxy() { kill "$HAPROXY_PID"; wait "$HAPROXY_PID" 2>/dev/null || true; HAPROXY_PID=; }

field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
kw() { "$KEYWAY_BIN" --data-dir "$WORK/node0" "$@"; }
kw client create --name bench --grant client_credentials --scope "read link:read" --json >"$WORK/client.json"
ID=$(field client_id <"$WORK/client.json")
SECRET=$(field client_secret <"$WORK/client.json")
AUTH=$(printf '%s' "$ID:$SECRET" | base64 -w0)
"$TOKI_BENCH" caller-key | kw client add-toki-key "$ID" --public-key - >/dev/null
start_haproxy 3
TOKEN=$(curl -fs -H "Authorization: Basic $AUTH" --data 'grant_type=client_credentials&scope=read%20link:read' \
  "$LB/oauth2/token" | field access_token)
curl -fs "$LB/toki/v1/hub" >"$WORK/hub.json"
export TOKI_CALLER=$ID TOKI_CALLEE=$(field service <"$WORK/hub.json") TOKI_CALLEE_KEY=$(field toki_key <"$WORK/hub.json")
stop_haproxy

# CPU ticks (user + system) of the nodes, PostgreSQL's processes and HAProxy.
cpu_ticks() {
  local total=0 pid
  for pid in "${NODE_PIDS[@]}" $(pgrep -x postgres || true) $(pgrep -x haproxy || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
wrk_run() { # tag lua url [warm-up lua env...]
  local tag=$1 lua=$2 url=$3 before after
  wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$lua" "$url" >"$WORK/$tag.warmup.txt" 2>&1
  before=$(cpu_ticks)
  BENCH_OUT="$WORK/$tag.json" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$lua" "$url" >"$WORK/$tag.txt" 2>&1
  after=$(cpu_ticks)
  echo $((after - before)) >"$WORK/$tag.ticks"
}
make_tokens() { # dir seconds: one session per wrk thread, opened through the balancer
  rm -rf "$1" && mkdir -p "$1"
  TOKI_AUTHORITY=$HOST:$LB_PORT "$TOKI_BENCH" tokens "$LB" /link/v1/stats "$THREADS" $((TOKI_RATE * $2)) "$1"
}
toki_run() { # tag: fresh sessions and tokens for the warm-up, then for the run (never reused)
  local tag=$1 before after
  make_tokens "$WORK/tokens-warm" "$WARMUP"
  TOKI_PATH=/link/v1/stats TOKI_TOKENS_DIR=$WORK/tokens-warm wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" \
    -s "$REPO/bench/toki/tokens.lua" "$LB/link/v1/stats" >"$WORK/$tag.warmup.txt" 2>&1
  make_tokens "$WORK/tokens" "$DURATION"
  before=$(cpu_ticks)
  TOKI_PATH=/link/v1/stats TOKI_TOKENS_DIR=$WORK/tokens wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$REPO/bench/toki/tokens.lua" "$LB/link/v1/stats" >"$WORK/$tag.txt" 2>&1
  after=$(cpu_ticks)
  echo $((after - before)) >"$WORK/$tag.ticks"
}

for n in 1 2 3; do
  log "$n node(s) behind haproxy: issue, introspect, bearer, toki (${DURATION}s each)"
  start_haproxy "$n"
  BENCH_BODY='grant_type=client_credentials&scope=read' BENCH_AUTH=$AUTH \
    wrk_run "issue-$n" "$REPO/bench/oauth/post.lua" "$LB/oauth2/token"
  BENCH_BODY="token=$TOKEN" BENCH_AUTH=$AUTH wrk_run "introspect-$n" "$REPO/bench/oauth/post.lua" "$LB/oauth2/introspect"
  BENCH_BEARER=$TOKEN wrk_run "bearer-$n" "$REPO/bench/gateway/get.lua" "$LB/link/v1/stats"
  BENCH_BEARER=$TOKEN toki_run "toki-$n"
  stop_haproxy
done

log "issuance through 3 nodes, node 2 killed with SIGKILL after 3 s and restarted after 6 s"
start_haproxy 3
BENCH_BODY='grant_type=client_credentials&scope=read' BENCH_AUTH=$AUTH \
  BENCH_OUT="$WORK/kill.json" wrk -t"$THREADS" -c"$CONNS" -d10s --latency -s "$REPO/bench/oauth/post.lua" \
  "$LB/oauth2/token" >"$WORK/kill.txt" 2>&1 &
WRK=$!
sleep 3
kill -9 "${NODE_PIDS[1]}"
sleep 3
start_node 1
wait "$WRK"
stop_haproxy

echo
echo "keyway $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(psql -V | cut -d' ' -f3-), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK" "$THREADS" "$CONNS" <<'PY'
import json, os, re, sys
work, threads, conns = sys.argv[1], sys.argv[2], sys.argv[3]
hz = os.sysconf("SC_CLK_TCK")

def summary(tag):
    path = f"{work}/{tag}.json"
    if os.path.exists(path):
        w = json.load(open(path))
        return w["requests"], w["duration_us"] / 1e6, w["latency_us"]["p99"] / 1000, sum(w["errors"].values())
    # tokens.lua has no summary: read wrk's text output.
    text = open(f"{work}/{tag}.txt").read()
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    seconds = float(re.search(r"requests in ([\d.]+)s", text).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    scale = {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return requests, seconds, float(p99.group(1)) * scale, int(bad.group(1)) if bad else 0

rows = {}
print(f"{'load':<11}{'nodes':>6}{'req/s':>10}{'p99 ms':>9}{'errors':>8}{'CPU µs/call':>13}")
for load in ("issue", "introspect", "bearer", "toki"):
    for n in (1, 2, 3):
        requests, seconds, p99, errors = summary(f"{load}-{n}")
        ticks = int(open(f"{work}/{load}-{n}.ticks").read())
        cpu = ticks / hz * 1e6 / max(requests, 1)
        rows[(load, n)] = (requests / seconds, cpu)
        print(f"{load:<11}{n:>6}{requests / seconds:>10.0f}{p99:>9.2f}{errors:>8}{cpu:>13.1f}")
print()
for load in ("issue", "introspect", "bearer", "toki"):
    print(f"{load:<11} 3 nodes / 1 node: {rows[(load, 3)][0] / rows[(load, 1)][0]:.2f} (target >= 0.80)")
claim = rows[("toki", 3)][1] - rows[("bearer", 3)][1]
print(f"toki call − bearer call, whole-system CPU per call on 3 nodes: {claim:+.1f} µs "
      "(the toki layer and the replay claim insert)")
requests, seconds, p99, errors = summary("kill")
print(f"issuance with a node killed and restarted: {requests / seconds:.0f} req/s, p99 {p99:.2f} ms, "
      f"{errors} failed requests (wrk {threads} threads, {conns} connections)")
PY
