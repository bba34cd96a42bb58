"""``manage.py import_study DIR [--dry-run]``: import a study bundle all or nothing (contract.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from analysis.exports.bundle import Problem, import_bundle
from core.commands import StudyCommand

REPORT_COLUMNS = ("file", "row", "column", "value", "rule")


def problem_report(problems: list[Problem]) -> str:
    """The row-level report: one tab-separated line per problem, under a header."""
    lines = ["\t".join(REPORT_COLUMNS)]
    for p in problems:
        value = p.value if len(p.value) <= 60 else p.value[:57] + "..."
        lines.append(
            "\t".join((p.file, "" if p.row is None else str(p.row), p.column, value, p.rule))
        )
    return "\n".join(lines)


class Command(StudyCommand):
    help = (
        "Import a study bundle (BIDS layout, phenotype TSVs, images) in one transaction: any "
        "problem rejects the whole bundle with a row-level report and a non-zero exit code."
    )
    lock_name = "study-data"  # never beside a restore or the demo loader

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="The bundle's root folder.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate everything, then write nothing."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Hide the image progress bar."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = import_bundle(
            options["directory"],
            dry_run=options["dry_run"],
            progress=not options["no_progress"],
        )
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        counts = ", ".join(f"{n} {name}" for name, n in sorted(result.counts.items()))
        if result.problems:
            self.stdout.write(problem_report(result.problems))
            raise CommandError(
                f"{len(result.problems)} problem(s) in the bundle: nothing was imported."
            )
        if result.dry_run:
            self.stdout.write(f"Dry run: the bundle is valid ({counts}); nothing was written.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {counts}."))
