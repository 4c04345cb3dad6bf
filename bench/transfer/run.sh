#!/usr/bin/env bash
# File transfer benchmark: `keyway transfer` against OpenSSH scp and the original Python ovtp,
# the same file over loopback, in one run.
#
#   bash bench/transfer/run.sh
#
# Run as root on a Debian machine. Idempotent; installs what it lacks (openssh-server/-client,
# python3-venv, time from Debian; ovtp from PyPI into a venv, pinned in ovtp/requirements.txt).
# Builds keyway (release), makes one file of BENCH_SIZE_MB MiB from /dev/urandom, then:
#
#   keyway  push `transfer send --file` and pull `transfer get`, a fresh `transfer serve` each;
#   scp     push and pull against a private sshd (own config, host key and authorized_keys in the
#           temp dir, aes128-gcm@openssh.com, root by key only), restarted for each direction;
#   ovtp    push `OvtpClient.send_file` and pull `OvtpClient.get_file` (ovtp/ovtp_bench.py);
#   keyway  messages/s from parallel `transfer send --message x` processes (handshakes.sh).
#
# Every received file is compared with the source (cmp); any difference, or a failed keyway or
# scp transfer, fails the run. Seconds are the client's wall time, process start and handshake
# included; MB/s = 10^6 bytes/s. Peak RSS: client from /usr/bin/time (%M, the largest process
# of the client's tree); keyway and ovtp servers from VmHWM in /proc/PID/status; sshd from
# /usr/bin/time around sshd -D (the largest process of its tree: listener, session, sftp).
# Prints a table, the ratios and targets, and writes bench/results/transfer-<UTC>.json.
#
# Knobs (environment):
#   BENCH_SIZE_MB=1024          file size, MiB
#   BENCH_OVTP_SIZE_MB          ovtp's file size [BENCH_SIZE_MB]; if ovtp fails or times out on
#                               it, the run retries with BENCH_OVTP_FALLBACK_MB (64) and says so
#   BENCH_OVTP_TIMEOUT=300      seconds allowed to one ovtp transfer
#   BENCH_TIMEOUT=300           seconds allowed to one keyway or scp transfer
#   BENCH_SKIP=LIST             skip some of: scp ovtp handshakes (space or comma separated)
#   BENCH_PERF=auto|1|0         perf record -g a keyway push (server and client) and print the
#                               top symbols: auto = only if keyway push misses 1000 MB/s
#   BENCH_HANDSHAKE_LOOPS=8 BENCH_HANDSHAKE_SECONDS=10   see handshakes.sh
#   BENCH_SKIP_BUILD=1          use the keyway binary as it is
#   KEYWAY_BIN=PATH             [$CARGO_TARGET_DIR/release/keyway]
#   CARGO_TARGET_DIR            [/var/tmp/keyway-target]
#   BENCH_VENV=DIR              ovtp's virtualenv [/var/tmp/keyway-bench-ovtp-venv]
#   BENCH_TMPDIR=DIR            where the temp dir goes [/var/tmp]: needs ~3 x the file size
#   BENCH_KEEP=1                keep the temp dir (logs, perf data)
#   BENCH_PIN=1                 every tool alike: servers on CPU 0, clients on CPU 1 (taskset),
#                               as if each side had a host of its own; by default the kernel
#                               places both sides on the shared cores as it likes
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

SIZE_MB=${BENCH_SIZE_MB:-1024}
OVTP_SIZE_MB=${BENCH_OVTP_SIZE_MB:-$SIZE_MB}
OVTP_FALLBACK_MB=${BENCH_OVTP_FALLBACK_MB:-64}
OVTP_TIMEOUT=${BENCH_OVTP_TIMEOUT:-300}
XFER_TIMEOUT=${BENCH_TIMEOUT:-300}
BENCH_SKIP=${BENCH_SKIP:-}
SERVER_PIN=() CLIENT_PIN=()
if [[ ${BENCH_PIN:-0} == 1 ]]; then
  SERVER_PIN=(taskset -c 0) CLIENT_PIN=(taskset -c 1)
fi
SKIP=" ${BENCH_SKIP//,/ } "
PERF=${BENCH_PERF:-auto}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/keyway-target}
KEYWAY_BIN=${KEYWAY_BIN:-$CARGO_TARGET_DIR/release/keyway}
VENV=${BENCH_VENV:-/var/tmp/keyway-bench-ovtp-venv}
HOST=127.0.0.1 # the only target, ever

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
skipped() { [[ $SKIP == *" $1 "* ]]; }
[[ $SIZE_MB =~ ^[1-9][0-9]*$ && $OVTP_SIZE_MB =~ ^[1-9][0-9]*$ ]] || die "sizes must be whole MiB"

# ---------------------------------------------------------------- cleanup: always stop servers
mkdir -p "${BENCH_TMPDIR:-/var/tmp}"
WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/keyway-transfer-bench.XXXXXX")
SERVER_PIDS=()
CHILD_PID=
cleanup() {
  local rc=$? pid i
  [[ -z ${CHILD_PID:-} ]] || kill -TERM "$CHILD_PID" 2>/dev/null || true
  for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n ${BENCH_KEEP:-} || $rc -ne 0 ]]; then
    rm -f "$WORK"/*.bin "$WORK"/*/*.bin 2>/dev/null || true # the big files go in any case
    log "work files kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() { # pid: so that cleanup never signals a reused PID
  local rest=() p
  for p in "${SERVER_PIDS[@]}"; do [[ $p == "$1" ]] || rest+=("$p"); done
  SERVER_PIDS=("${rest[@]}")
}
stop_pid() { # pid: TERM, up to 5 s, then KILL
  local i
  kill -TERM "$1" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget_pid "$1"
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
[[ -x /usr/bin/time ]] || need+=(time)
command -v timeout >/dev/null || need+=(coreutils)
command -v python3 >/dev/null || need+=(python3)
command -v cmp >/dev/null || need+=(diffutils)
if ! skipped scp; then
  [[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
  command -v scp >/dev/null && command -v ssh-keygen >/dev/null || need+=(openssh-client)
fi
((${#need[@]} == 0)) || apt_install "${need[@]}"

# Asks the package metadata, never `import ovtp`: importing it writes configs to /etc (ovcfg).
if ! skipped ovtp && ! "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("ovtp")' 2>/dev/null; then
  if [[ ! -x $VENV/bin/pip ]]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; rm -rf "$VENV"; python3 -m venv "$VENV"; }
  fi
  log "pip install ovtp (pinned: bench/transfer/ovtp/requirements.txt) into $VENV"
  timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/ovtp/requirements.txt" >&2 \
    || die "pip install ovtp failed"
fi

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  log "cargo build --release -p keyway (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$REPO" && cargo build --release -p keyway --quiet) >&2
fi
[[ -x $KEYWAY_BIN ]] || die "no keyway binary at $KEYWAY_BIN"
"$KEYWAY_BIN" transfer get --help >/dev/null 2>&1 || die "$KEYWAY_BIN has no 'transfer get'"

# ---------------------------------------------------------------- helpers
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# True when something listens on 127.0.0.1:PORT (reads /proc/net/tcp: no connection is made).
listening() {
  awk -v p="$(printf '%04X' "$1")" '$2 == "0100007F:" p && $4 == "0A" {found = 1} END {exit !found}' /proc/net/tcp
}
wait_listen() { # port pid name
  local i
  for i in $(seq 1 300); do
    listening "$1" && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (log: $WORK/$3.log): $(tail -5 "$WORK/$3.log" 2>/dev/null)"
    sleep 0.1
  done
  die "$3 not listening on $HOST:$1 after 30 s"
}
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # utime + stime
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; } # all CPUs, not idle
CLK_TCK=$(getconf CLK_TCK)

# Runs "$@" in the background with output to OUT_FILE and waits, so that a signal's trap fires.
run_child() { # out_file cmd…
  local out=$1 rc=0
  shift
  "$@" >"$out" 2>&1 &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=
  return "$rc"
}

# Times one client command: sets M_RC, M_WALL (s), M_RSS (KiB), M_CPU (s), M_BUSY (s of all
# CPUs busy meanwhile). /usr/bin/time wraps timeout wraps the command, so that a timeout never
# orphans it and %M covers it.
measure() { # tag limit_s cmd…
  local tag=$1 limit=$2 w0 w1 b0 b1
  shift 2
  sync # dirty pages of the previous step are not written back during this one
  b0=$(busy_ticks)
  w0=$EPOCHREALTIME
  M_RC=0
  run_child "$WORK/$tag.out" /usr/bin/time -f '%M %U %S' -o "$WORK/$tag.time" \
    timeout --kill-after=5 "$limit" "${CLIENT_PIN[@]}" "$@" || M_RC=$?
  w1=$EPOCHREALTIME
  b1=$(busy_ticks)
  read -r M_RSS M_USER M_SYS < <(tail -1 "$WORK/$tag.time")
  M_WALL=$(python3 -c "print(round($w1 - $w0, 4))")
  M_CPU=$(python3 -c "print(round($M_USER + $M_SYS, 2))")
  M_BUSY=$(python3 -c "print(round(($b1 - $b0) / $CLK_TCK, 2))")
}

RECORDS=$WORK/records.jsonl
: >"$RECORDS"
FAILED=()
# One line of results. Numbers may be empty (unknown): written as null.
record() { # tool direction bytes ok verified note server_rss_kib server_cpu_s
  python3 - "$@" "$M_WALL" "$M_RSS" "$M_CPU" "$M_BUSY" >>"$RECORDS" <<'PY'
import json, sys
(tool, direction, size, ok, verified, note, srss, scpu, wall, crss, ccpu, busy) = sys.argv[1:]
num = lambda s: None if s == "" else float(s)
print(json.dumps({
    "tool": tool, "direction": direction, "bytes": int(size), "ok": ok == "1",
    "verified": verified == "1", "note": note, "seconds": num(wall),
    "server_peak_rss_kib": num(srss), "client_peak_rss_kib": num(crss),
    "server_cpu_s": num(scpu), "client_cpu_s": num(ccpu), "machine_busy_cpu_s": num(busy),
}))
PY
}
same() { cmp -s "$1" "$2"; }

meta() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/meta.tsv"; }
: >"$WORK/meta.tsv"
meta size_mib "$SIZE_MB"
meta nproc "$(nproc)"
meta pinned "${BENCH_PIN:-0}"
meta cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
meta kernel "$(uname -r)"
meta loadavg_before "$(cut -d' ' -f1-3 /proc/loadavg)"
meta tmpdir_fs "$(df -PT "$WORK" | awk 'NR == 2 {print $2 " on " $1}')"
meta keyway_git "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || echo +dirty)${BENCH_SKIP_BUILD:+ (not rebuilt)}"
meta keyway_binary_built "$(date -u -r "$KEYWAY_BIN" +%Y-%m-%dT%H:%M:%SZ)"

# ---------------------------------------------------------------- the file
SRC=$WORK/source.bin
SIZE=$((SIZE_MB * 1024 * 1024))
log "making $SRC: $SIZE_MB MiB from /dev/urandom"
head -c "$SIZE" /dev/urandom >"$SRC"
[[ $(stat -c %s "$SRC") -eq $SIZE ]] || die "short source file"
cat "$SRC" >/dev/null # in the page cache for every tool alike
sync

# ---------------------------------------------------------------- keyway
KW=$WORK/keyway
mkdir -p "$KW/root"
"$KEYWAY_BIN" transfer keygen -f "$KW/server.key" -C bench-server >/dev/null 2>&1
"$KEYWAY_BIN" transfer keygen -f "$KW/client.key" -C bench-client >"$KW/authorized_keys" 2>/dev/null
KW_SERVER_KEY=$(awk '{print $1 " " $2}' "$KW/server.key.pub")

kw_start() { # tag: starts a server, sets KW_PID KW_PORT
  KW_PORT=$(free_port)
  RUST_LOG=warn "${SERVER_PIN[@]}" "$KEYWAY_BIN" transfer serve --listen "$HOST:$KW_PORT" --identity "$KW/server.key" \
    --authorized-keys "$KW/authorized_keys" --root "$KW/root" >"$WORK/$1.log" 2>&1 &
  KW_PID=$!
  SERVER_PIDS+=("$KW_PID")
  wait_listen "$KW_PORT" "$KW_PID" "$1"
}
KW_PEER=(--identity "$KW/client.key" --server-key "$KW_SERVER_KEY")

log "keyway: push $SIZE_MB MiB (transfer send --file)"
kw_start keyway-server-push
c0=$(cpu_ticks "$KW_PID")
measure keyway-push "$XFER_TIMEOUT" "$KEYWAY_BIN" transfer send --to "$HOST:$KW_PORT" "${KW_PEER[@]}" \
  --file "$SRC" --as bench.bin --overwrite --quiet
c1=$(cpu_ticks "$KW_PID")
srss=$(hwm_kib "$KW_PID")
stop_pid "$KW_PID"
ok=0 verified=0
[[ $M_RC -eq 0 ]] && grep -q '^status: 0' "$WORK/keyway-push.out" && ok=1
same "$SRC" "$KW/root/bench.bin" && verified=1
record keyway push "$SIZE" "$ok" "$verified" "" "$srss" "$(python3 -c "print(round(($c1 - $c0) / $CLK_TCK, 2))")"
((ok && verified)) || FAILED+=("keyway push (exit $M_RC, verified=$verified): $(tail -3 "$WORK/keyway-push.out")")

log "keyway: pull $SIZE_MB MiB (transfer get)"
kw_start keyway-server-pull
c0=$(cpu_ticks "$KW_PID")
rm -f "$WORK/keyway-pulled.bin"
measure keyway-pull "$XFER_TIMEOUT" "$KEYWAY_BIN" transfer get --from "$HOST:$KW_PORT" "${KW_PEER[@]}" \
  --overwrite --quiet bench.bin "$WORK/keyway-pulled.bin"
c1=$(cpu_ticks "$KW_PID")
srss=$(hwm_kib "$KW_PID")
ok=0 verified=0
[[ $M_RC -eq 0 ]] && ok=1
same "$SRC" "$WORK/keyway-pulled.bin" && verified=1
record keyway pull "$SIZE" "$ok" "$verified" "" "$srss" "$(python3 -c "print(round(($c1 - $c0) / $CLK_TCK, 2))")"
((ok && verified)) || FAILED+=("keyway pull (exit $M_RC, verified=$verified): $(tail -3 "$WORK/keyway-pull.out")")
rm -f "$WORK/keyway-pulled.bin"

# Profile one more push (not measured) when asked, or when keyway missed 1000 MB/s.
push_mbps=$(python3 -c "
import json
r = json.loads(open('$RECORDS').readline())
print(int(r['bytes'] / r['seconds'] / 1e6) if r['ok'] and r['seconds'] else 0)")
if [[ $PERF == 1 || ($PERF == auto && $push_mbps -lt 1000) ]]; then
  if command -v perf >/dev/null && perf --version >/dev/null 2>&1; then
    log "keyway: profiling a push with perf record -g (push was $push_mbps MB/s)"
    perf record -g -F 999 -o "$WORK/perf-server.data" -p "$KW_PID" >"$WORK/perf-server.log" 2>&1 &
    PERF_PID=$!
    SERVER_PIDS+=("$PERF_PID")
    sleep 1
    sync
    timeout "$XFER_TIMEOUT" perf record -g -F 999 -o "$WORK/perf-client.data" -- \
      "$KEYWAY_BIN" transfer send --to "$HOST:$KW_PORT" "${KW_PEER[@]}" --file "$SRC" \
      --as profiled.bin --overwrite --quiet >"$WORK/perf-client.log" 2>&1 \
      || log "profiled push failed: $(tail -3 "$WORK/perf-client.log")"
    kill -INT "$PERF_PID" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$PERF_PID" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$PERF_PID"
    for side in server client; do
      perf report -i "$WORK/perf-$side.data" --stdio --no-children --sort symbol --percent-limit 0.5 \
        -g none 2>/dev/null | grep -E '^ +[0-9]' | head -25 >"$WORK/perf-$side.top" || true
      perf report -i "$WORK/perf-$side.data" --stdio --no-children --sort dso \
        -g none 2>/dev/null | grep -E '^ +[0-9]' | head -8 >"$WORK/perf-$side.dso" || true
    done
    rm -f "$KW/root/profiled.bin"
  else
    log "perf not available: no profile (apt-get install linux-perf)"
  fi
fi
stop_pid "$KW_PID"
rm -f "$KW/root/bench.bin"

# ---------------------------------------------------------------- scp against a private sshd
if ! skipped scp; then
  [[ $(id -u) -eq 0 ]] || die "scp: the private sshd needs root (or BENCH_SKIP=scp)"
  SSH=$WORK/ssh
  mkdir -p "$SSH/recv" /run/sshd # /run/sshd: sshd's privilege separation directory
  chmod 700 "$SSH"
  ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$SSH/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$SSH/client_ed25519"
  cp "$SSH/client_ed25519.pub" "$SSH/authorized_keys"
  cat >"$SSH/sshd_config" <<EOF
ListenAddress $HOST
HostKey $SSH/host_ed25519
PidFile $SSH/sshd.pid
AuthorizedKeysFile $SSH/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Ciphers aes128-gcm@openssh.com
Subsystem sftp internal-sftp
PrintMotd no
LogLevel ERROR
EOF
  /usr/sbin/sshd -t -f "$SSH/sshd_config" || die "sshd rejects its config"
  SCP=(scp -q -B -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o IdentitiesOnly=yes -i "$SSH/client_ed25519" -c aes128-gcm@openssh.com)
  meta openssh_version "$(ssh -V 2>&1)"

  # sshd -D runs under /usr/bin/time: at its exit, %M is the largest RSS of its process tree.
  sshd_start() { # tag: sets SSHD_TIME_PID SSHD_PID SSH_PORT
    SSH_PORT=$(free_port)
    rm -f "$SSH/sshd.pid"
    /usr/bin/time -f '%M %U %S' -o "$WORK/$1.time" \
      "${SERVER_PIN[@]}" /usr/sbin/sshd -D -e -f "$SSH/sshd_config" -p "$SSH_PORT" >"$WORK/$1.log" 2>&1 &
    SSHD_TIME_PID=$!
    SERVER_PIDS+=("$SSHD_TIME_PID")
    wait_listen "$SSH_PORT" "$SSHD_TIME_PID" "$1"
    for i in $(seq 1 50); do [[ -s $SSH/sshd.pid ]] && break; sleep 0.1; done
    SSHD_PID=$(cat "$SSH/sshd.pid")
    SERVER_PIDS=("$SSHD_PID" "${SERVER_PIDS[@]}") # stopped before its /usr/bin/time
  }
  sshd_stop() { # tag: sets S_RSS S_CPU
    stop_pid "$SSHD_PID"
    for i in $(seq 1 50); do kill -0 "$SSHD_TIME_PID" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$SSHD_TIME_PID"
    read -r S_RSS su ss < <(tail -1 "$WORK/$1.time")
    S_CPU=$(python3 -c "print(round($su + $ss, 2))")
  }

  log "scp: push $SIZE_MB MiB"
  sshd_start sshd-push
  measure scp-push "$XFER_TIMEOUT" "${SCP[@]}" -P "$SSH_PORT" "$SRC" "root@$HOST:$SSH/recv/bench.bin"
  sshd_stop sshd-push
  ok=0 verified=0
  [[ $M_RC -eq 0 ]] && ok=1
  same "$SRC" "$SSH/recv/bench.bin" && verified=1
  record scp push "$SIZE" "$ok" "$verified" "" "$S_RSS" "$S_CPU"
  ((ok && verified)) || FAILED+=("scp push (exit $M_RC, verified=$verified): $(tail -3 "$WORK/scp-push.out")")

  log "scp: pull $SIZE_MB MiB"
  sshd_start sshd-pull
  rm -f "$WORK/scp-pulled.bin"
  measure scp-pull "$XFER_TIMEOUT" "${SCP[@]}" -P "$SSH_PORT" "root@$HOST:$SSH/recv/bench.bin" "$WORK/scp-pulled.bin"
  sshd_stop sshd-pull
  ok=0 verified=0
  [[ $M_RC -eq 0 ]] && ok=1
  same "$SRC" "$WORK/scp-pulled.bin" && verified=1
  record scp pull "$SIZE" "$ok" "$verified" "" "$S_RSS" "$S_CPU"
  ((ok && verified)) || FAILED+=("scp pull (exit $M_RC, verified=$verified): $(tail -3 "$WORK/scp-pull.out")")
  rm -f "$WORK/scp-pulled.bin" "$SSH/recv/bench.bin"
fi

# ---------------------------------------------------------------- ovtp (Python, PyPI)
if ! skipped ovtp; then
  OV=$WORK/ovtp
  OVPY=("$VENV/bin/python" "$HERE/ovtp/ovtp_bench.py")
  mkdir -p "$OV/recv"
  OV_PORT=$(free_port)
  "${OVPY[@]}" setup --dir "$OV" --port "$OV_PORT" >"$WORK/ovtp-setup.log" 2>&1 \
    || die "ovtp setup failed: $(tail -5 "$WORK/ovtp-setup.log")"
  meta ovtp_version "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("ovtp"))')"
  meta python_version "$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
  (cd "$OV" && exec "${SERVER_PIN[@]}" "${OVPY[@]}" server --dir "$OV") >"$WORK/ovtp-server.log" 2>&1 &
  OV_PID=$!
  SERVER_PIDS+=("$OV_PID")
  wait_listen "$OV_PORT" "$OV_PID" ovtp-server

  ovtp_push() { # src: sets ok verified
    rm -f "$OV/recv/bench.bin"
    c0=$(cpu_ticks "$OV_PID")
    measure ovtp-push "$OVTP_TIMEOUT" "${OVPY[@]}" push --dir "$OV" "$1" "$OV/recv/bench.bin"
    c1=$(cpu_ticks "$OV_PID")
    ok=0 verified=0
    [[ $M_RC -eq 0 ]] && ok=1
    same "$1" "$OV/recv/bench.bin" && verified=1
  }
  OV_SRC=$SRC OV_BYTES=$SIZE OV_NOTE=""
  if ((OVTP_SIZE_MB != SIZE_MB)); then
    OV_SRC=$WORK/ovtp-source.bin OV_BYTES=$((OVTP_SIZE_MB * 1024 * 1024))
    head -c "$OV_BYTES" "$SRC" >"$OV_SRC"
    OV_NOTE="$OVTP_SIZE_MB MiB file (BENCH_OVTP_SIZE_MB)"
  fi
  log "ovtp: push $((OV_BYTES / 1048576)) MiB (OvtpClient.send_file, timeout ${OVTP_TIMEOUT}s)"
  ovtp_push "$OV_SRC"
  if ! ((ok && verified)) && ((OV_BYTES > OVTP_FALLBACK_MB * 1048576)); then
    log "ovtp: push of $((OV_BYTES / 1048576)) MiB failed (exit $M_RC, verified=$verified); retrying with $OVTP_FALLBACK_MB MiB"
    OV_NOTE="$OVTP_FALLBACK_MB MiB file: $((OV_BYTES / 1048576)) MiB failed (exit $M_RC)"
    [[ $M_RC -ne 124 ]] || OV_NOTE="$OVTP_FALLBACK_MB MiB file: $((OV_BYTES / 1048576)) MiB timed out after ${OVTP_TIMEOUT}s"
    OV_SRC=$WORK/ovtp-source.bin OV_BYTES=$((OVTP_FALLBACK_MB * 1024 * 1024))
    head -c "$OV_BYTES" "$SRC" >"$OV_SRC"
    ovtp_push "$OV_SRC"
  fi
  record ovtp push "$OV_BYTES" "$ok" "$verified" "$OV_NOTE" "$(hwm_kib "$OV_PID")" \
    "$(python3 -c "print(round(($c1 - $c0) / $CLK_TCK, 2))")"
  ((ok && verified)) || FAILED+=("ovtp push (exit $M_RC, verified=$verified): $(tail -3 "$WORK/ovtp-push.out")")

  # ovtp 1.0.6.4's pull ends in an exception: the server ends the body with b'ov_sign', the
  # client waits for b'ovsign', takes the marker for data and fails to unpad it. The data has
  # arrived by then, so the file is still compared and timed; a failure here is reported, not
  # fatal (it is ovtp's, not the benchmark's).
  if ((ok && verified)); then
    log "ovtp: pull $((OV_BYTES / 1048576)) MiB (OvtpClient.get_file)"
    rm -f "$OV/pulled.bin"
    c0=$(cpu_ticks "$OV_PID")
    measure ovtp-pull "$OVTP_TIMEOUT" "${OVPY[@]}" pull --dir "$OV" "$OV/recv/bench.bin" "$OV/pulled.bin"
    c1=$(cpu_ticks "$OV_PID")
    ok=0 verified=0 note=$OV_NOTE
    [[ $M_RC -eq 0 ]] && ok=1
    same "$OV_SRC" "$OV/pulled.bin" && verified=1
    if ((!ok)); then
      err=$(grep -E '^[A-Za-z.]*(Error|Exception)' "$WORK/ovtp-pull.out" | tail -1 || true)
      note="${note:+$note; }get_file failed (${err:-exit $M_RC})"
      ((!verified)) || note="$note after receiving all the data intact"
    fi
    record ovtp pull "$OV_BYTES" "$ok" "$verified" "$note" "$(hwm_kib "$OV_PID")" \
      "$(python3 -c "print(round(($c1 - $c0) / $CLK_TCK, 2))")"
  fi
  stop_pid "$OV_PID"
  rm -f "$OV/recv/bench.bin" "$OV/pulled.bin" "$WORK/ovtp-source.bin"
fi

# ---------------------------------------------------------------- handshakes
if ! skipped handshakes; then
  log "keyway: messages/s (handshakes.sh)"
  BENCH_SKIP_BUILD=1 KEYWAY_BIN=$KEYWAY_BIN bash "$HERE/handshakes.sh" "$WORK/handshakes.json" >&2 \
    || die "handshakes.sh failed"
fi

meta loadavg_after "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report
mkdir -p "$REPO/bench/results"
OUT=$REPO/bench/results/transfer-$(date -u +%Y-%m-%dT%H%M%SZ).json
python3 "$HERE/report.py" "$WORK" "$OUT"
log "wrote ${OUT#"$REPO"/}"
if ((${#FAILED[@]})); then
  for f in "${FAILED[@]}"; do log "FAILED: $f"; done
  exit 1
fi
