#!/usr/bin/env bash
# A private PostgreSQL server on 127.0.0.1 for tests and `make serve-prod`: start | stop | url.
# Uses Debian's postgresql package (installed by scripts/system-deps.sh); data under var/pg/.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${MOTORBAND_PG_PORT:-55432}
DATA="$PWD/var/pg/data"
LOG="$PWD/var/pg/server.log"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$BIN" ] || { echo "PostgreSQL is not installed (scripts/system-deps.sh installs it)." >&2; exit 1; }
as_owner() {
  # initdb and postgres refuse to run as root: run them as the postgres system user then.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-start}" in
  start)
    mkdir -p "$PWD/var/pg"
    [ "$(id -u)" -eq 0 ] && chown postgres "$PWD/var/pg"
    if [ ! -f "$DATA/PG_VERSION" ]; then
      as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      options="-h 127.0.0.1 -p $PORT -k /tmp"
      # Test runs trade durability for speed; `make serve-prod` keeps the defaults.
      [ "${MOTORBAND_PG_FAST:-0}" = 1 ] && options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
      as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -o "$options" start >/dev/null
    fi
    "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='motorband'" \
      | grep -q 1 || "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres motorband
    echo "postgres://postgres@127.0.0.1:$PORT/motorband"
    ;;
  stop)
    if [ -f "$DATA/PG_VERSION" ]; then as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null || true; fi
    ;;
  url)
    echo "postgres://postgres@127.0.0.1:$PORT/motorband"
    ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
