"""Quantification on a real task queue: a Redis server and a Celery worker started by the test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from imaging.models import QuantificationRun, RunStatus
from tests.imaging.test_quantify_command import _scans

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not installed: `make test` installs it (scripts/system-deps.sh)."
        )
    port = _free_port()
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


def _database_url() -> str:
    """The URL of the test database this process uses, for the worker process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker(redis_url, media_root, transactional_db):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "motorband.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": redis_url,
        "MEDIA_ROOT": str(media_root),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "motorband",
            "worker",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield redis_url
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def broker_app(redis_url):
    """A client app that sends tasks through the real broker (the test settings run them eagerly)."""
    from celery import Celery

    app = Celery("motorband-test-client", broker=redis_url, set_as_current=False)
    yield app
    app.close()


def test_celery_worker_processes_runs_from_redis(worker, broker_app, phantom_files, tmp_path):
    from imaging import services

    scans = _scans(phantom_files, 3, tmp_path)
    runs = [services.run_request(user=None, scan=s, enqueue=False)[0] for s in scans]
    for run in runs:
        broker_app.send_task("imaging.quantify_run", args=[run.pk])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        statuses = set(
            QuantificationRun.objects.filter(pk__in=[r.pk for r in runs]).values_list(
                "status", flat=True
            )
        )
        if statuses <= {RunStatus.DONE, RunStatus.FAILED}:
            break
        time.sleep(0.3)
    finished = QuantificationRun.objects.filter(pk__in=[r.pk for r in runs])
    assert [r.status for r in finished] == [RunStatus.DONE] * 3, [r.error for r in finished]
    assert all(r.measurements.count() == 10 for r in finished)
