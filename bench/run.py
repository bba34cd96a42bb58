"""`make bench`: run every benchmark script in bench/ and print their figures one after another."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["bench_quantify.py", "bench_models.py"]


def main() -> int:
    import os

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    failed = 0
    for name in BENCHMARKS:
        print(f"\n== {name} ==", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / name)], cwd=HERE.parent)
        print(f"({name}: {time.perf_counter() - start:.1f} s wall, exit {code})", flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
