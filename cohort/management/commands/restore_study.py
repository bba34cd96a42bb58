"""Restore a backup archive into an empty, migrated instance (recorded in the access log)."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from cohort import backup
from core.commands import StudyCommand, record_command_access
from core.models import AccessAction


class Command(StudyCommand):
    help = "Restore a backup made by backup_study into this empty instance (migrate first)."
    lock_name = "study-data"  # never beside an import or the demo loader

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("source", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = backup.restore(options["source"], progress=True)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        # After the restore, which loads the backup's own access log: an event written before it
        # could take the id of one of the backup's.
        record_command_access(
            None,
            AccessAction.IMPORT,
            f"file:{Path(options['source']).resolve()}",
            command="restore_study",
            outcome="restored",
            rows=sum(manifest["rows"].values()),
            media=len(manifest["media"]),
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {sum(manifest['rows'].values())} rows and {len(manifest['media'])} files."
            )
        )
