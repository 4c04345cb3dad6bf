#!/usr/bin/env bash
# TLS benchmark (issue 19): what native TLS costs, against the way it was done before —
# HAProxy terminating TLS in front of a plain hub (deploy/haproxy.cfg's `bind :443 ssl`).
#
#   bash bench/tls/run.sh
#
# One hub on SQLite serving https itself (`--tls-cert/--tls-key`, a P-256 certificate from a
# CA made here with openssl), and one plain hub behind HAProxy with the same certificate.
# Each load runs with wrk against both, alternating (A B A B), in the same run:
#   - issue       POST /oauth2/token (client_credentials), kept-alive connections
#   - handshake   the same with `Connection: close`: a new TCP connection and TLS handshake
#                 for every request
# Also plain http to the plain hub, for what TLS costs at all. Prints req/s (median of the
# runs) and the ratio native / HAProxy.
#
# Knobs: BENCH_THREADS=2 BENCH_CONNECTIONS=32 BENCH_DURATION=6 BENCH_ROUNDS=2,
#        BENCH_SKIP_BUILD=1, KEYWAY_BIN, CARGO_TARGET_DIR [/var/tmp/keyway-target], BENCH_KEEP=1
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-6}
ROUNDS=${BENCH_ROUNDS:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
HOST=127.0.0.1

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-tls-bench.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [[ -n ${BENCH_KEEP:-} || $rc -ne 0 ]]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT

for tool in wrk haproxy openssl curl python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install wrk haproxy openssl curl python3)"
done
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway"
  (cd "$REPO" && cargo build --release -q -p keyway) >&2
fi
[[ -x $KEYWAY_BIN ]] || die "no keyway binary at $KEYWAY_BIN"

log "a CA and a certificate for $HOST"
(
  cd "$WORK"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj '/CN=bench CA' \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=hub -keyout hub.key \
    -out hub.csr 2>/dev/null
  printf 'subjectAltName=IP:%s\n' "$HOST" >hub.ext
  openssl x509 -req -in hub.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile hub.ext \
    -out hub.pem 2>/dev/null
  cat hub.pem hub.key >haproxy.pem
)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NATIVE_PORT=$(free_port)
PLAIN_PORT=$(free_port)
PROXY_PORT=$(free_port)

start_hub() { # name port [serve args...]
  local name=$1 port=$2 scheme=http
  shift 2
  [[ $* == *--tls-cert* ]] && scheme=https
  "$KEYWAY_BIN" serve --listen "$HOST:$port" --data-dir "$WORK/$name" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    curl -fs --cacert "$WORK/ca.pem" "$scheme://$HOST:$port/readyz" >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "$name did not become ready: $(tail -5 "$WORK/$name.log")"
}
start_hub native "$NATIVE_PORT" --tls-cert "$WORK/hub.pem" --tls-key "$WORK/hub.key"
start_hub plain "$PLAIN_PORT" --issuer "https://$HOST:$PROXY_PORT" --trusted-proxy 127.0.0.1

cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 8192
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend tls_in
    bind $HOST:$PROXY_PORT ssl crt $WORK/haproxy.pem alpn http/1.1
    default_backend hub
backend hub
    http-reuse safe
    server hub $HOST:$PLAIN_PORT
EOF
haproxy -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -fs --cacert "$WORK/ca.pem" "https://$HOST:$PROXY_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
client_auth() { # data dir name
  "$KEYWAY_BIN" --data-dir "$WORK/$1" client create --name bench --grant client_credentials \
    --scope read --json >"$WORK/$1.client.json"
  printf '%s' "$(field client_id <"$WORK/$1.client.json"):$(field client_secret <"$WORK/$1.client.json")" | base64 -w0
}
NATIVE_AUTH=$(client_auth native)
PLAIN_AUTH=$(client_auth plain)

# wrk on one URL; prints req/s (non-2xx answers make the run fail).
run() { # tag auth url [extra wrk args...]
  local tag=$1 auth=$2 url=$3
  shift 3
  BENCH_BODY='grant_type=client_credentials&scope=read' BENCH_AUTH=$auth BENCH_OUT="$WORK/$tag.json" \
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" "$@" -s "$REPO/bench/oauth/post.lua" "$url" >"$WORK/$tag.txt" 2>&1
  python3 - "$WORK/$tag.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
bad = sum(s["errors"].values())
if bad:
    sys.exit(f"{sys.argv[1]}: {s['errors']}")
print(round(s["requests"] / (s["duration_us"] / 1e6)))
PY
}

declare -A RESULTS
for round in $(seq 1 "$ROUNDS"); do
  for load in issue handshake; do
    extra=()
    [[ $load == handshake ]] && extra=(-H "Connection: close")
    log "round $round: $load"
    RESULTS[native-$load]+="$(run "native-$load-$round" "$NATIVE_AUTH" "https://$HOST:$NATIVE_PORT/oauth2/token" "${extra[@]}") "
    RESULTS[haproxy-$load]+="$(run "haproxy-$load-$round" "$PLAIN_AUTH" "https://$HOST:$PROXY_PORT/oauth2/token" "${extra[@]}") "
    RESULTS[plain-$load]+="$(run "plain-$load-$round" "$PLAIN_AUTH" "http://$HOST:$PLAIN_PORT/oauth2/token" "${extra[@]}") "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
printf '\n%-10s %12s %16s %14s %18s\n' load native_tls haproxy_tls plain_http native/haproxy
for load in issue handshake; do
  n=$(median <<<"${RESULTS[native-$load]}")
  h=$(median <<<"${RESULTS[haproxy-$load]}")
  p=$(median <<<"${RESULTS[plain-$load]}")
  printf '%-10s %12s %16s %14s %18s\n' "$load" "$n/s" "$h/s" "$p/s" "$(python3 -c "print(f'{$n/$h:.2f}')")"
done
