"""`make bench`: run every benchmark script in bench/, print their output, then one summary table.

A script reports a figure for the summary by printing a line
``FIGURE|name|value|unit|target|ratio`` (target and ratio may be empty); the table gathers them in
the order the scripts ran.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "bench_quantify.py",
    "bench_bert_response.py",
    "bench_models.py",
    "bench_export.py",
    "bench_bomb.py",
    "bench_api.py",
    "bench_scale.py",
    "bench_celery.py",
    "bench_load.py",
]
FIGURE_PREFIX = "FIGURE|"


def parse_figure(line: str) -> list[str] | None:
    """The six fields of a FIGURE line (missing ones empty), or None for any other line."""
    if not line.startswith(FIGURE_PREFIX):
        return None
    fields = [f.strip() for f in line.rstrip("\n").split("|")[1:]]
    return (fields + [""] * 5)[:5]


def run_script(name: str) -> tuple[int, list[list[str]]]:
    """Run one script, echo its output as it comes, and collect its FIGURE lines."""
    figures: list[list[str]] = []
    process = subprocess.Popen(
        [sys.executable, "-u", str(HERE / name)],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        fields = parse_figure(line)
        if fields is not None:
            figures.append([name.removesuffix(".py"), *fields])
    return process.wait(), figures


def print_table(rows: list[list[str]]) -> None:
    header = ["script", "figure", "value", "unit", "target", "ratio"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> int:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    failed: list[str] = []
    table: list[list[str]] = []
    for name in BENCHMARKS:
        if not (HERE / name).exists():
            print(f"\n== {name} == (missing, skipped)", flush=True)
            continue
        print(f"\n== {name} ==", flush=True)
        start = time.perf_counter()
        code, figures = run_script(name)
        table.extend(figures)
        print(f"({name}: {time.perf_counter() - start:.1f} s wall, exit {code})", flush=True)
        if code != 0:
            failed.append(name)
    print(f"\n== summary (load average now {os.getloadavg()[0]:.2f}) ==")
    if table:
        print_table(table)
    else:
        print("(no FIGURE lines)")
    if failed:
        print(f"exited non-zero: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
