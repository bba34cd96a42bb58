"""Assign every SWI scan (failed QC excepted) to k blinded raters, in a randomized queue order per
rater; the reading coordinator's page /reading/assign/ calls the same service."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from core.commands import StudyCommand
from imaging import reading


class Command(StudyCommand):
    help = (
        "Give every SWI scan that did not fail QC k raters (default 2) chosen among the active "
        "raters, balancing their work, and append the new scans to each rater's queue in a random "
        "order."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--k",
            type=int,
            default=reading.DEFAULT_RATERS_PER_SCAN,
            help=f"Raters per scan (default {reading.DEFAULT_RATERS_PER_SCAN}).",
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="Seed of the random choices (reproducible)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(scans: Any) -> Any:
            return self.progress(scans, desc="Assigning scans", unit="scan")

        try:
            # One transaction: an interrupted run leaves no half-filled queue behind.
            created = reading.read_assignments_auto(
                user=None, k=options["k"], seed=options["seed"], progress=progress
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        raters = len({a.rater_id for a in created})
        self.stdout.write(
            self.style.SUCCESS(f"{len(created)} assignment(s) added to {raters} rater queue(s).")
        )
