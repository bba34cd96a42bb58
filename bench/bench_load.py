"""A bounded load test on loopback: gunicorn (3 workers) under wrk, 4 connections for 10 s.

Builds the bench_api study (10,000 subjects, 30,000 visits with UMN exams, bulk_create) in a
temporary SQLite database with production settings (DEBUG off, collectstatic into the temporary
folder), writes an investigator's token and a logged-in session to the database, starts gunicorn on
127.0.0.1 on a free port, then loads, one after the other:

* GET /api/v1/visits/?page_size=100 with the token header;
* GET /subjects/<study id>/ (the subject page) with the session cookie.

Requests per second and latency percentiles come from ``wrk`` (a Lua ``done`` hook prints p95), or,
where wrk is not installed (or with ``--client python``), from a small threaded Python client.
Only 127.0.0.1 is ever targeted; gunicorn is stopped at the end.
Run: ``.venv/bin/python bench/bench_load.py``. Figures, not a gate.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import build_study  # noqa: E402  (the same 10,000-subject fixture)

HOST = "127.0.0.1"  # loopback only: never anything else
DURATION_S = 10
CONNECTIONS = 4
THREADS = 1  # wrk threads: one drives 4 connections, and leaves the cores to gunicorn
GUNICORN_WORKERS = 3
START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 10
WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p95_us=%d p99_us=%d errors=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
"""


def figure(name: str, value: float, unit: str, target: str = "", ratio: str = "") -> None:
    """One line for the summary table of bench/run.py."""
    print(f"FIGURE|{name}|{value:.4g}|{unit}|{target}|{ratio}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def production_env(folder: Path) -> dict[str, str]:
    """Production settings on a temporary database and folder (plain HTTP on loopback)."""
    return {
        "MOTORBAND_VAR": str(folder / "var"),
        "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(folder / "media"),
        "DJANGO_SETTINGS_MODULE": "motorband.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "ERROR",
    }


def prepare(env: dict[str, str]) -> tuple[str, str, str]:
    """Migrate, collect static files, build the study; return (token, session key, study id)."""
    os.environ.update(env)
    for name in ("CELERY_BROKER_URL", "CACHE_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client
    from knox.models import AuthToken

    from cohort import services
    from cohort.models import Subject

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    build_study()
    user = services.study_user_save(username="bench-investigator", role="investigator")
    token = AuthToken.objects.create(user=user)[1]
    client = Client()
    client.force_login(user)  # a session row in the database, as the login form would write
    session = client.cookies["sessionid"].value
    study_id = Subject.objects.order_by("study_id").values_list("study_id", flat=True)[0]
    connections.close_all()
    return token, session, study_id


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One GET on a fresh connection to 127.0.0.1 (gunicorn's sync workers close it anyway)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "motorband.wsgi:application"),
            *("--bind", f"{HOST}:{port}", "--workers", str(GUNICORN_WORKERS)),
            *("--timeout", "60", "--log-level", "warning"),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            get(port, "/accounts/login/", {})
            return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SystemExit(f"gunicorn did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def stop(process: subprocess.Popen, timeout_s: float = 30) -> None:
    """Terminate a process started here (gunicorn: graceful), then its own group if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def with_wrk(port: int, path: str, headers: dict[str, str], lua: Path) -> dict[str, float]:
    command = [
        *("wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{DURATION_S}s"),
        *("--timeout", f"{REQUEST_TIMEOUT_S}s", "--latency", "-s", str(lua)),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*command, f"http://{HOST}:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=DURATION_S + 60,
        check=True,
    ).stdout
    found = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    if found is None:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    values = {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests": values["requests"],
        "rps": values["requests"] / (values["duration_us"] / 1e6),
        "p50_ms": values["p50_us"] / 1000,
        "p95_ms": values["p95_us"] / 1000,
        "p99_ms": values["p99_us"] / 1000,
        "errors": values["errors"] + (int(non_2xx.group(1)) if non_2xx else 0),
    }


def with_python(port: int, path: str, headers: dict[str, str]) -> dict[str, float]:
    """CONNECTIONS threads, each sending one request after the other for DURATION_S."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + DURATION_S

    def connection_loop() -> None:
        mine, failed = [], 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                status, _ = get(port, path, headers)
            except OSError:
                failed += 1
                continue
            mine.append(time.perf_counter() - start)
            failed += status != 200
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    start = time.perf_counter()
    threads = [threading.Thread(target=connection_loop) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p95_ms": cuts[94] * 1000,
        "p99_ms": cuts[98] * 1000,
        "errors": errors[0],
    }


def main() -> int:
    use_wrk = shutil.which("wrk") is not None and "--client" not in sys.argv
    with tempfile.TemporaryDirectory(prefix="motorband-bench-load-") as tmp:
        folder = Path(tmp)
        env = production_env(folder)
        start = time.perf_counter()
        token, session, study_id = prepare(env)
        print(f"study built, production settings, in {time.perf_counter() - start:.1f} s")
        cases = (
            (
                "API visits p100",
                "/api/v1/visits/?page_size=100",
                {"Authorization": f"Token {token}"},
            ),
            ("subject page", f"/subjects/{study_id}/", {"Cookie": f"sessionid={session}"}),
        )
        lua = folder / "p95.lua"
        lua.write_text(WRK_LUA)
        port = free_port()
        server = start_gunicorn(env, port, folder / "gunicorn.log")
        try:
            client = "wrk" if use_wrk else "Python threads"
            if shutil.which("wrk") is None:
                client += " (wrk not installed)"
            print(
                f"gunicorn {GUNICORN_WORKERS} sync workers on {HOST}:{port}; client {client}, "
                f"{CONNECTIONS} connections, {DURATION_S} s each",
                flush=True,
            )
            for name, path, headers in cases:
                for _ in range(2 * GUNICORN_WORKERS):  # warm every worker; check the answer
                    status, body = get(port, path, headers)
                    if status != 200 or study_id.encode() not in body:
                        raise SystemExit(f"GET {path} answered {status}, not 200 with {study_id}")
                load_before = os.getloadavg()[0]
                if use_wrk:
                    result = with_wrk(port, path, headers, lua)
                else:
                    result = with_python(port, path, headers)
                print(
                    f"GET {path} ({len(body)} bytes): {result['requests']:.0f} requests, "
                    f"{result['rps']:.1f} req/s, p50 {result['p50_ms']:.1f} ms, "
                    f"p95 {result['p95_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
                    f"{result['errors']:.0f} errors (load average before {load_before:.2f})",
                    flush=True,
                )
                figure(f"load {name} throughput", result["rps"], "req/s")
                figure(f"load {name} p95 latency", result["p95_ms"], "ms")
                if result["errors"]:
                    figure(f"load {name} errors", result["errors"], "requests")
        finally:
            stop(server)
        print(f"cpu cores / load average      {os.cpu_count()} / {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
