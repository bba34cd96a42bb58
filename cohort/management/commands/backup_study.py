"""Back up the database and media files into one archive."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from cohort import backup


class Command(BaseCommand):
    help = "Write a backup (database + media, with checksums) to a .tar.gz file."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("target", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        manifest = backup.backup(options["target"], progress=True)
        rows = sum(manifest["rows"].values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written to {options['target']}: {rows} rows, {len(manifest['media'])} files."
            )
        )
