"""Backup and restore of a whole instance: the database (as a Django fixture) and the media files.

A backup is one .tar.gz holding ``manifest.json`` (format, time, row counts, sha256 of every file),
``database.xml`` (XML keeps datetimes to the microsecond; Django's JSON keeps milliseconds) and
``media/``. Restore goes into an empty, migrated instance, all or nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from tqdm import tqdm

FORMAT = "motorband-backup/1"
# API tokens (knox) and login attempts (axes) are credentials and lockout state, not study data:
# never copied into a backup (a restored instance issues new tokens).
EXCLUDED = ["contenttypes", "auth.permission", "sessions", "admin.logentry", "knox", "axes"]
# The access log (core) is backed up too, but not counted: a restore adds its own entry.
STUDY_APPS = ("cohort", "imaging", "queries", "analysis")


class BackupError(Exception):
    pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _media_files(root: Path) -> Iterator[Path]:
    if root.exists():
        yield from sorted(p for p in root.rglob("*") if p.is_file())


def row_counts() -> dict[str, int]:
    counts = {}
    for label in STUDY_APPS:
        for model in apps.get_app_config(label).get_models():
            counts[model._meta.label] = model._default_manager.count()
    return counts


def backup(target: Path, *, progress: bool = False) -> dict[str, Any]:
    """Write a backup archive to ``target`` and return its manifest."""
    media_root = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory(prefix="motorband-backup-") as tmp:
        database = Path(tmp) / "database.xml"
        with transaction.atomic():  # one consistent snapshot of every table
            call_command(
                "dumpdata",
                exclude=EXCLUDED,
                natural_foreign=True,
                output=str(database),
                format="xml",
                verbosity=0,
            )
            counts = row_counts()
        files = list(_media_files(media_root))
        manifest = {
            "format": FORMAT,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "rows": counts,
            "database_sha256": _sha256(database),
            "media": {str(p.relative_to(media_root)): _sha256(p) for p in files},
        }
        with tarfile.open(target, "w:gz") as archive:
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            archive.add(database, "database.xml")
            for path in tqdm(files, desc="Backing up media", unit="file", disable=not progress):
                archive.add(path, f"media/{path.relative_to(media_root)}")
    return manifest


def restore(source: Path, *, progress: bool = False) -> dict[str, Any]:
    """Restore a backup into this (empty, migrated) instance; verify every checksum first."""
    if any(row_counts().values()):
        raise BackupError("This instance already holds study data: restore into an empty one.")
    media_root = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory(prefix="motorband-restore-") as tmp:
        work = Path(tmp)
        with tarfile.open(source, "r:gz") as archive:
            archive.extractall(work, filter="data")  # refuses absolute paths, '..' and links out
        manifest = json.loads((work / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            raise BackupError(f"Not a MotorBand backup (format {manifest.get('format')!r}).")
        if _sha256(work / "database.xml") != manifest["database_sha256"]:
            raise BackupError("database.xml does not match its checksum: the backup is damaged.")
        for name, digest in manifest["media"].items():
            path = work / "media" / name
            if not path.is_file() or _sha256(path) != digest:
                raise BackupError(f"media/{name} is missing or damaged.")
        copied: list[Path] = []
        try:
            with transaction.atomic():
                call_command("loaddata", str(work / "database.xml"), verbosity=0)
                if row_counts() != manifest["rows"]:
                    raise BackupError("Row counts after loading differ from the backup's manifest.")
                for name in tqdm(manifest["media"], desc="Restoring media", disable=not progress):
                    target = media_root / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(work / "media" / name, target)
                    copied.append(target)
        except BaseException:
            for path in copied:
                path.unlink(missing_ok=True)
            raise
    return manifest
