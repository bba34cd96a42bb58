"""Back up the database and media files into one archive."""

from pathlib import Path
from typing import Any

from cohort import backup
from core.commands import StudyCommand


class Command(StudyCommand):
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
