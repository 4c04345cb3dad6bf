#!/usr/bin/env bash
# keyway transfer: messages per second from N parallel loops of `keyway transfer send --message x`,
# each message a new process, a new TCP connection and a full TLS 1.3 handshake with raw Ed25519
# keys (mutual authentication). The figure INCLUDES PROCESS START-UP PER MESSAGE, so it is a
# lower bound on the server's handshakes/s, not the handshake rate itself.
#
#   bash bench/transfer/handshakes.sh [OUT.json]
#
# Starts its own `keyway transfer serve` on a free 127.0.0.1 port (identities in a temp dir),
# checks one message by hand, runs the loops, stops the server, prints one line and, given
# OUT.json, writes the figures there (bench/transfer/run.sh does that).
#
# Knobs (environment):
#   BENCH_HANDSHAKE_LOOPS=8        parallel loops
#   BENCH_HANDSHAKE_SECONDS=10     how long the loops run
#   BENCH_HANDSHAKE_MAX=100000     at most this many sends per loop (a bound, never reached)
#   BENCH_SKIP_BUILD=1             use the keyway binary as it is
#   KEYWAY_BIN=PATH                [$CARGO_TARGET_DIR/release/keyway]
#   CARGO_TARGET_DIR               [/var/tmp/keyway-target]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT_JSON=${1:-}
LOOPS=${BENCH_HANDSHAKE_LOOPS:-8}
DURATION=${BENCH_HANDSHAKE_SECONDS:-10}
MAX_PER_LOOP=${BENCH_HANDSHAKE_MAX:-100000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
HOST=127.0.0.1 # the only target, ever

log() { printf '[handshakes] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyway-handshakes.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? pid i
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 || -n ${BENCH_KEEP:-} ]]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$REPO" && cargo build --release -p keyway --quiet) >&2
fi
[[ -x $KEYWAY_BIN ]] || die "no keyway binary at $KEYWAY_BIN"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# True when something listens on 127.0.0.1:PORT (reads /proc/net/tcp: no connection made).
listening() {
  awk -v p="$(printf '%04X' "$1")" '$2 == "0100007F:" p && $4 == "0A" {found = 1} END {exit !found}' /proc/net/tcp
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

"$KEYWAY_BIN" transfer keygen -f "$WORK/server.key" -C bench-server >/dev/null 2>&1
"$KEYWAY_BIN" transfer keygen -f "$WORK/client.key" -C bench-client >"$WORK/authorized_keys" 2>/dev/null
SERVER_KEY=$(awk '{print $1 " " $2}' "$WORK/server.key.pub")
mkdir -p "$WORK/root"
PORT=$(free_port)
RUST_LOG=warn "$KEYWAY_BIN" transfer serve --listen "$HOST:$PORT" --identity "$WORK/server.key" \
  --authorized-keys "$WORK/authorized_keys" --root "$WORK/root" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for i in $(seq 1 100); do
  listening "$PORT" && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "server exited: $(cat "$WORK/server.log")"
  sleep 0.1
done
listening "$PORT" || die "server not listening after 10 s"

send() {
  timeout 10 "$KEYWAY_BIN" transfer send --to "$HOST:$PORT" --identity "$WORK/client.key" \
    --server-key "$SERVER_KEY" --message x
}
reply=$(send) || die "the check message failed"
[[ $reply == "status: 0"* ]] || die "unexpected reply: $reply"

# One loop: sends until the deadline (µs since the epoch) or MAX_PER_LOOP sends.
worker() { # index deadline_us
  local ok=0 failed=0 now
  while ((ok + failed < MAX_PER_LOOP)); do
    now=${EPOCHREALTIME/./}
    ((now < $2)) || break
    if send >/dev/null 2>>"$WORK/errors.$1"; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
  done
  echo "$ok $failed" >"$WORK/count.$1"
}

log "$LOOPS loops of 'keyway transfer send --message x' for ${DURATION}s on $HOST:$PORT"
t0=$EPOCHREALTIME
c0=$(cpu_ticks "$SERVER_PID")
deadline=$(( ${t0/./} + DURATION * 1000000 ))
WORKERS=()
for i in $(seq 1 "$LOOPS"); do
  worker "$i" "$deadline" &
  WORKERS+=("$!")
  PIDS+=("$!")
done
for pid in "${WORKERS[@]}"; do wait "$pid"; done
t1=$EPOCHREALTIME
c1=$(cpu_ticks "$SERVER_PID")
kill -0 "$SERVER_PID" 2>/dev/null || die "server died under load"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")

ok=0 failed=0
for i in $(seq 1 "$LOOPS"); do
  read -r a b <"$WORK/count.$i"
  ok=$((ok + a)) failed=$((failed + b))
done
python3 - "$ok" "$failed" "$t0" "$t1" "$LOOPS" "$DURATION" "$hwm" "$((c1 - c0))" "$(getconf CLK_TCK)" \
  "$OUT_JSON" <<'PY'
import json, sys
ok, failed = int(sys.argv[1]), int(sys.argv[2])
t0, t1 = float(sys.argv[3]), float(sys.argv[4])
loops, duration, hwm, ticks, hz, out = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9]), sys.argv[10]
wall = t1 - t0
r = {
    "what": "keyway transfer send --message x, one process + TCP connection + TLS 1.3 handshake per message",
    "note": "includes process start-up per message (a lower bound on handshakes/s)",
    "loops": loops, "duration_s": duration, "wall_s": round(wall, 3),
    "messages": ok, "failures": failed, "messages_per_s": round(ok / wall, 1),
    "server_cpu_s": round(ticks / hz, 2), "server_peak_rss_kib": hwm,
}
print(f"keyway handshakes: {r['messages_per_s']:.0f} messages/s ({ok} in {wall:.1f} s, {loops} loops, "
      f"{failed} failed; includes process start-up per message: a lower bound on handshakes/s); "
      f"server CPU {r['server_cpu_s']} s, peak RSS {hwm / 1024:.1f} MiB")
if out:
    with open(out, "w") as f:
        json.dump(r, f)
PY
((failed == 0)) || log "$failed sends failed: $(sort "$WORK"/errors.* | uniq -c | head -5)"

# The handshake rate without process start-up: server and client loops in one process.
if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  (cd "$REPO" && cargo build --release -q -p keyway-transfer --example handshakes)
fi
log "in-process handshakes ($LOOPS loops, ${DURATION} s): $("$CARGO_TARGET_DIR/release/examples/handshakes" "$DURATION" "$LOOPS")"
