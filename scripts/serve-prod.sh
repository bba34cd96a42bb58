#!/usr/bin/env bash
# Production-like MotorBand on loopback: PostgreSQL + Redis + gunicorn + one Celery worker.
# Secrets come from the environment; a random SECRET_KEY is made once under var/ otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p var
[ -f var/secret_key ] || $BIN/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
export SECRET_KEY=${SECRET_KEY:-$(cat var/secret_key)}
export DEBUG=false
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-127.0.0.1,localhost}
# Plain HTTP on loopback: no TLS redirect here (a real deployment terminates TLS in front).
export SECURE_SSL_REDIRECT=${SECURE_SSL_REDIRECT:-false}
export DATABASE_URL=${DATABASE_URL:-$(bash scripts/postgres.sh start)}
REDIS_PORT=${MOTORBAND_REDIS_PORT:-56379}
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --pidfile "$PWD/var/redis.pid" --logfile "$PWD/var/redis.log"
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:$REDIS_PORT/0}
export CACHE_URL=${CACHE_URL:-redis://127.0.0.1:$REDIS_PORT/1}
$BIN/python manage.py migrate --noinput -v 0
$BIN/python manage.py collectstatic --noinput -v 0
$BIN/python manage.py load_demo --if-empty
$BIN/celery -A motorband worker --concurrency 2 --loglevel INFO &
WORKER=$!
cleanup() {
  kill "$WORKER" 2>/dev/null || true
  [ -f var/redis.pid ] && kill "$(cat var/redis.pid)" 2>/dev/null || true
  bash scripts/postgres.sh stop
}
trap cleanup EXIT INT TERM
echo "MotorBand (production settings) on http://127.0.0.1:8000/"
$BIN/gunicorn motorband.wsgi:application --bind 127.0.0.1:8000 --workers 3 --timeout 120
