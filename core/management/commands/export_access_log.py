"""Export the access log to a CSV file (all events, or those of one action, user or period); text
that a spreadsheet would run as a formula (a username typed at the login form) is neutralized."""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from core.access import record_access
from core.commands import StudyCommand
from core.models import AccessAction, AccessEvent
from core.spreadsheets import neutralize

COLUMNS = ["id", "when", "user_id", "username", "action", "target", "client_address", "detail"]


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"'{value}' is not a date (YYYY-MM-DD).") from exc


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return ""


class Command(StudyCommand):
    help = "Write the access log (oldest first) to a CSV file; the export itself is logged."
    exclusive = False  # reads only

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path, help="The CSV file to write ('-' for stdout).")
        parser.add_argument("--action", choices=AccessAction.values)
        parser.add_argument("--user", help="Username, as recorded.")
        parser.add_argument("--since", type=_day, help="From this day on (YYYY-MM-DD).")
        parser.add_argument("--until", type=_day, help="Up to this day, inclusive.")

    def handle(self, *args: Any, **options: Any) -> None:
        events = AccessEvent.objects.order_by("when", "id")
        filters = {}
        if options["action"]:
            filters["action"] = options["action"]
        if options["user"]:
            filters["username"] = options["user"]
        if options["since"]:
            filters["when__date__gte"] = options["since"]
        if options["until"]:
            filters["when__date__lte"] = options["until"]
        events = events.filter(**filters)
        target: Path = options["file"]
        total = events.count()
        to_stdout = str(target) == "-"
        handle = self.stdout if to_stdout else target.open("w", newline="", encoding="utf-8")
        try:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for event in self.progress(
                events.iterator(chunk_size=2000), total=total, desc="Access log", unit="event"
            ):
                writer.writerow(
                    [
                        event.pk,
                        event.when.isoformat(),
                        event.user_id or "",
                        # Typed by anyone at the login form: never a formula in a spreadsheet.
                        neutralize(event.username),
                        event.action,
                        neutralize(event.target),
                        event.client_address or "",
                        json.dumps(event.detail, sort_keys=True, default=str),
                    ]
                )
        finally:
            if not to_stdout:
                handle.close()
        record_access(
            None,
            AccessAction.EXPORT,
            target="access log",
            via="export_access_log",
            os_user=_os_user(),
            file=str(target),
            rows=total,
            filters={k: str(v) for k, v in filters.items()},
        )
        if not to_stdout:
            self.stdout.write(self.style.SUCCESS(f"{total} access events written to {target}."))
