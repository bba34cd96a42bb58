"""Restore a backup archive into an empty, migrated instance."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cohort import backup


class Command(BaseCommand):
    help = "Restore a backup made by backup_study into this empty instance (migrate first)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("source", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = backup.restore(options["source"], progress=True)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {sum(manifest['rows'].values())} rows and {len(manifest['media'])} files."
            )
        )
