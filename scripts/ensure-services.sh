#!/usr/bin/env bash
# Makes sure the local PostgreSQL and MariaDB the backend tests use are answering; starts them
# with the machine's own commands when they are installed but stopped. Never fails the run by
# itself: a backend that stays down makes its tests fail with a clear message instead.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 30); do port_open "$1" && return 0; sleep 1; done
  return 1
}

if ! port_open 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  wait_port 5432 || echo "warning: PostgreSQL is not answering on 5432"
fi
if ! port_open 3306 && [ -x /usr/sbin/mariadbd ]; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_port 3306 || echo "warning: MariaDB is not answering on 3306"
fi
for port in 5432 3306 5672 4222; do
  if port_open "$port"; then echo "127.0.0.1:$port answers"; else echo "127.0.0.1:$port is down"; fi
done
exit 0
