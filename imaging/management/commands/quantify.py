"""Run band quantification on scans, with a progress bar, in-process or through Celery workers."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import connections

from core.commands import StudyCommand
from imaging import services
from imaging.models import QuantificationRun, RunStatus, Scan

POLL_SECONDS = 0.5


def _close_connections() -> None:
    # A forked worker must not share the parent's database connection.
    connections.close_all()


def _execute(run_id: int) -> tuple[int, str]:
    run = services.run_execute(run_id)
    return run.pk, run.status


class Command(StudyCommand):
    help = "Quantify the motor band of SWI/QSM scans (all pending ones, or the given scan ids)."

    def add_arguments(self, parser: Any) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every scan without a current run.")
        which.add_argument("--scan", type=int, nargs="+", metavar="ID", help="These scan ids.")
        parser.add_argument("--workers", type=int, default=1, help="Parallel workers (default 1).")
        parser.add_argument(
            "--n4",
            action="store_true",
            help="N4 bias-field correction of SWI/T2* magnitudes before measuring (recorded with "
            "each run; QSM maps are quantified without it).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workers = options["workers"]
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        if options["scan"]:
            missing = set(options["scan"]) - set(
                Scan.objects.filter(pk__in=options["scan"]).values_list("pk", flat=True)
            )
            if missing:
                raise CommandError(f"No scan with id {', '.join(map(str, sorted(missing)))}.")
            scans = list(Scan.objects.filter(pk__in=options["scan"]).order_by("pk"))
        else:
            scans = services.runs_to_do()
        runs: list[int] = []
        for scan in scans:
            try:
                n4 = options["n4"] and services.QUANTIFIABLE_KINDS.get(scan.kind) != "qsm"
                run, queued = services.run_request(user=None, scan=scan, enqueue=False, n4=n4)
            except ValidationError as exc:
                self.stderr.write(f"scan {scan.pk} ({scan.code}): {' '.join(exc.messages)}")
                continue
            if queued:
                runs.append(run.pk)
        if not runs:
            self.stdout.write("Nothing to quantify: every scan has a current run.")
            return
        if settings.CELERY_TASK_ALWAYS_EAGER:
            self._run_locally(runs, workers)
        else:
            self._run_on_workers(runs)
        done = QuantificationRun.objects.filter(pk__in=runs, status=RunStatus.DONE).count()
        failed = QuantificationRun.objects.filter(pk__in=runs, status=RunStatus.FAILED)
        self.stdout.write(self.style.SUCCESS(f"{done} of {len(runs)} runs done."))
        for run in failed:
            self.stderr.write(f"run {run.pk} (scan {run.scan_id}) failed: {run.error}")
        if failed:
            raise CommandError(f"{failed.count()} runs failed; they can be run again.")

    def _run_locally(self, runs: list[int], workers: int) -> None:
        with self.progress(total=len(runs), unit="run", desc="Quantifying") as bar:
            if workers == 1:
                for run_id in runs:
                    services.run_execute(run_id)
                    bar.update()
                return
            _close_connections()
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=_close_connections
            ) as pool:
                for future in as_completed([pool.submit(_execute, r) for r in runs]):
                    future.result()
                    bar.update()

    def _run_on_workers(self, runs: list[int]) -> None:
        from imaging.tasks import quantify_run

        for run_id in runs:
            quantify_run.delay(run_id)
        pending = set(runs)
        with self.progress(total=len(runs), unit="run", desc="Quantifying (Celery)") as bar:
            while pending:
                finished = set(
                    QuantificationRun.objects.filter(
                        pk__in=pending, status__in=[RunStatus.DONE, RunStatus.FAILED]
                    ).values_list("pk", flat=True)
                )
                if finished:
                    bar.update(len(finished))
                    pending -= finished
                if pending:
                    services.runs_fail_stale()
                    time.sleep(POLL_SECONDS)
