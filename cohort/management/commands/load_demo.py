"""Load the synthetic demo study and its demo users."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandError

from cohort.demo import DEFAULT_ANCHOR, DEFAULT_SEED, DEMO_PASSWORD, build_demo, create_demo_users
from cohort.models import Subject
from core.commands import StudyCommand


class Command(StudyCommand):
    help = "Load the synthetic demo study (sites, subjects, visits, scores, events) and demo users."
    lock_name = "study-data"  # never beside an import or a restore

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument(
            "--anchor",
            type=dt.date.fromisoformat,
            default=DEFAULT_ANCHOR,
            help="The demo's 'today' (ISO date); visits end before it.",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already holds subjects.",
        )
        parser.add_argument("--no-users", action="store_true", help="Skip the demo users.")
        parser.add_argument(
            "--clinical-only",
            action="store_true",
            help="Skip the imaging and reads (faster; clinical data only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if Subject.objects.exists():
            if options["if_empty"]:
                self.stdout.write("The database already holds a study; demo not loaded.")
                return
            raise CommandError(
                "The database already holds subjects; load the demo into an empty one."
            )
        counts = build_demo(
            seed=options["seed"],
            anchor=options["anchor"],
            extensions=not options["clinical_only"],
            progress=lambda message: self.stdout.write(message, ending="\n"),
        )
        self.stdout.write(
            self.style.SUCCESS(
                "Demo study loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items())
            )
        )
        if not options["no_users"]:
            users = create_demo_users()
            self.stdout.write(f"Demo users (password '{DEMO_PASSWORD}' for all):")
            for username, role, sites in users:
                where = f" at {', '.join(sites)}" if sites else ""
                self.stdout.write(f"  {username:<14} {role}{where}")
