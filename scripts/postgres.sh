#!/usr/bin/env bash
# A private PostgreSQL server on 127.0.0.1 for tests and `make serve-prod`: start | stop | url | dir.
# Uses Debian's postgresql package (installed by scripts/system-deps.sh).
#
# Where its data live: not in the clone. As root, initdb and the server run as the `postgres` system
# user, which cannot traverse root's home or a `mktemp -d` folder (mode 700); so the data live in
# $MOTORBAND_PG_DIR, by default /tmp/motorband-pg-<uid>-<hash of the clone's path>: one server per
# clone, reachable by postgres whatever the clone's path.
# Its port: $MOTORBAND_PG_PORT if set, else the first free port from 55432, remembered in that folder
# so that `url` and `stop` find the same server and two clones testing at once never collide.
set -euo pipefail
cd "$(dirname "$0")/.."
CLONE_HASH=$(printf '%s' "$PWD" | sha1sum | cut -c1-12)
STATE=${MOTORBAND_PG_DIR:-/tmp/motorband-pg-$(id -u)-$CLONE_HASH}
DATA="$STATE/data"
LOG="$STATE/server.log"
PORT_FILE="$STATE/port"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

as_owner() {
  # initdb and postgres refuse to run as root: run them as the postgres system user then.
  # From /, which it can always enter (the clone's folder may be closed to it).
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

port_in_use() {
  # Something answers on 127.0.0.1:$1, or another server's socket file claims the port.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || [ -e "/tmp/.s.PGSQL.$1" ]
}

server_running() {
  [ -f "$DATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

choose_port() {
  if [ -n "${MOTORBAND_PG_PORT:-}" ]; then echo "$MOTORBAND_PG_PORT"; return; fi
  if server_running && [ -s "$PORT_FILE" ]; then cat "$PORT_FILE"; return; fi
  local port
  for port in $(seq 55432 55631); do
    if ! port_in_use "$port"; then echo "$port"; return; fi
  done
  echo "No free port between 55432 and 55631 for PostgreSQL (set MOTORBAND_PG_PORT)." >&2
  exit 1
}

url() {
  local port=${MOTORBAND_PG_PORT:-}
  if [ -z "$port" ]; then
    [ -s "$PORT_FILE" ] || { echo "PostgreSQL is not started (scripts/postgres.sh start)." >&2; exit 1; }
    port=$(cat "$PORT_FILE")
  fi
  echo "postgres://postgres@127.0.0.1:$port/motorband"
}

case "${1:-start}" in
  start)
    [ -n "$BIN" ] || { echo "PostgreSQL is not installed (scripts/system-deps.sh installs it)." >&2; exit 1; }
    mkdir -p "$STATE"
    chmod 755 "$STATE"
    [ "$(id -u)" -eq 0 ] && chown postgres "$STATE"
    if [ ! -f "$DATA/PG_VERSION" ]; then
      as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    port=$(choose_port)
    if ! server_running; then
      # The socket lives in the state folder: no clash in /tmp with another server's socket.
      options="-h 127.0.0.1 -p $port -k $STATE"
      # Test runs trade durability for speed; `make serve-prod` keeps the defaults.
      [ "${MOTORBAND_PG_FAST:-0}" = 1 ] && options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
      as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -o "$options" start >/dev/null
    fi
    echo "$port" >"$PORT_FILE"
    "$BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='motorband'" \
      | grep -q 1 || "$BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres motorband
    url
    ;;
  stop)
    if [ -n "$BIN" ] && [ -f "$DATA/PG_VERSION" ]; then as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true; fi
    ;;
  url)
    url
    ;;
  dir)
    echo "$STATE"
    ;;
  *) echo "usage: $0 start|stop|url|dir" >&2; exit 2 ;;
esac
