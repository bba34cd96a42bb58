"""The WSGI entry point imports every view when the worker starts, not in its first request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wsgi_worker_imports_the_views_at_start() -> None:
    script = (
        "import sys\n"
        "import motorband.wsgi\n"
        "missing = [m for m in ('analysis.api.views', 'lifelines', 'statsmodels', 'plotly')"
        " if m not in sys.modules]\n"
        "print(missing)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "motorband.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
