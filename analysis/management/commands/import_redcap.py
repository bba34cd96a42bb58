"""``manage.py import_redcap DATA.csv --dictionary DICT.csv [--user NAME] [--dry-run]``: REDCap data,
all or nothing, attributed to ``--user`` in the audit trail and recorded in the access log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from analysis.exports.redcap import import_redcap
from analysis.management.commands.import_study import (
    add_user_argument,
    importing_user,
    problem_report,
    record_import,
)
from core.commands import StudyCommand


class Command(StudyCommand):
    help = (
        "Import a REDCap data file (raw codes, one row per record and event, as export_study "
        "--format redcap writes it) with its data dictionary in one transaction: any problem "
        "rejects the whole file with a row-level report and a non-zero exit code."
    )
    lock_name = "study-data"  # never beside another import, a restore or the demo loader

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("data", help="The REDCap data file (data.csv).")
        parser.add_argument(
            "--dictionary", required=True, help="The project's data dictionary (dictionary.csv)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate everything, then write nothing."
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
        add_user_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        user = importing_user(options["user"])

        def progress(records: Sequence[Any]) -> Iterable[Any]:
            if options["no_progress"]:
                return records
            return self.progress(records, total=len(records), desc="records", unit="record")

        result = import_redcap(
            options["data"],
            options["dictionary"],
            dry_run=options["dry_run"],
            user=user,
            progress=progress,
        )
        record_import(
            user,
            f"file:{Path(options['data']).resolve()}",
            result,
            command="import_redcap",
            dictionary=str(Path(options["dictionary"]).resolve()),
        )
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        counts = ", ".join(f"{n} {name}" for name, n in sorted(result.counts.items()))
        if result.problems:
            self.stdout.write(problem_report(result.problems))
            raise CommandError(
                f"{len(result.problems)} problem(s) in the REDCap file: nothing was imported."
            )
        if result.dry_run:
            self.stdout.write(f"Dry run: the REDCap file is valid ({counts}); nothing was written.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {counts}."))
