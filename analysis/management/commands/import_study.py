"""``manage.py import_study DIR [--user NAME] [--dry-run]``: import a study bundle all or nothing
(contract.md); the rows it writes are attributed to ``--user`` in the audit trail (else to the
system), and the import is recorded in the access log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from analysis.exports.bundle import ImportResult, Problem, import_bundle
from core import roles
from core.commands import StudyCommand, record_command_access, study_user_named
from core.models import AccessAction
from core.roles import StudyUser

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


def add_user_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="The study user the import acts for (a data manager or administrator): the audit "
        "trail names them on every row written. Without it the rows are the system's.",
    )


def importing_user(name: str | None) -> StudyUser | None:
    """The account named by ``--user`` (None without the option); CommandError for an unknown or
    inactive account or a role that may not write every site's clinical data."""
    if name is None:
        return None
    return study_user_named(name, allowed=roles.IMPORTERS, doing="import clinical data")


def record_import(
    user: StudyUser | None, target: str, result: ImportResult, *, command: str, **detail: Any
) -> None:
    """The import's access-log entry: what was read, whether it was written, and how much."""
    outcome = "refused" if result.problems else "dry run" if result.dry_run else "imported"
    record_command_access(
        user,
        AccessAction.IMPORT,
        target,
        command=command,
        outcome=outcome,
        problems=len(result.problems),
        counts=dict(result.counts),
        **detail,
    )


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
        add_user_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        user = importing_user(options["user"])
        result = import_bundle(
            options["directory"],
            dry_run=options["dry_run"],
            progress=not options["no_progress"],
            user=user,
        )
        record_import(
            user,
            f"directory:{Path(options['directory']).resolve()}",
            result,
            command="import_study",
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
