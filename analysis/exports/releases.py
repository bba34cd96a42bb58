"""Release services: freeze an export (files, manifest with sha256 per file, a zip) and read it back.

A release is written once under ``MEDIA_ROOT/releases/<id>/`` with ``manifest.json`` (who, when,
format, filters, de-identification, algorithm versions, each file's sha256 and size) and zipped
deterministically into ``MEDIA_ROOT/releases/<id>.zip``, whose sha256 the ``Release`` row keeps; the
row is created last, so a failed export leaves neither row nor files.
"""

from __future__ import annotations

import functools
import json
import shutil
import tomllib
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from analysis import reports, stard
from analysis.exports import bundle, trial
from analysis.exports import deidentify as deid
from analysis.models import Release, ReleaseFormat
from analysis.stats.errors import InsufficientDataError
from cohort.models import Group, Site, Subject
from core import roles
from core.access import RequestLike, record_access
from core.models import AccessAction
from core.roles import Acting
from imaging import band
from imaging.models import QuantificationRun, RunStatus

RELEASES_DIR = "releases"
MANIFEST = "manifest.json"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same files always give the same zip bytes
CHUNK_BYTES = 1 << 20
MANIFEST_VERSION = 1


@functools.cache
def software_version() -> str:
    """MotorBand's version (pyproject.toml)."""
    try:
        with (Path(settings.BASE_DIR) / "pyproject.toml").open("rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def sha256_of(path: Path) -> str:
    return bundle.file_sha256(path)


def release_folder(release_id: uuid.UUID | str) -> Path:
    return Path(settings.MEDIA_ROOT) / RELEASES_DIR / str(release_id)


def release_zip_path(release: Release) -> Path:
    return Path(settings.MEDIA_ROOT) / release.archive


def write_zip(folder: Path, target: Path) -> None:
    """Zip every file of ``folder`` (sorted, fixed timestamps and modes), streaming each file."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with path.open("rb") as source, archive.open(info, "w", force_zip64=True) as out:
                shutil.copyfileobj(source, out, CHUNK_BYTES)


def _validate(
    *, fmt: str, deidentify: bool, date_mode: str, site_mode: str, sites: Sequence[str]
) -> None:
    errors: dict[str, str] = {}
    if fmt not in ReleaseFormat.values:
        errors["format"] = (
            f"Unknown format '{fmt}'; choose one of {', '.join(ReleaseFormat.values)}."
        )
    elif fmt == ReleaseFormat.BIDS and deidentify:
        errors["deidentify"] = (
            "The BIDS bundle holds the identifiable study (it is re-importable); de-identify "
            "a trial format (csv, xlsx, parquet, dta, sav) instead."
        )
    if date_mode not in deid.DATE_MODES:
        errors["date_mode"] = f"Choose one of {', '.join(deid.DATE_MODES)}."
    if site_mode not in deid.SITE_MODES:
        errors["site_mode"] = f"Choose one of {', '.join(deid.SITE_MODES)}."
    unknown = sorted(set(sites) - set(Site.objects.values_list("code", flat=True)))
    if unknown:
        errors["sites"] = f"Unknown site code(s): {', '.join(unknown)}."
    if errors:
        raise ValidationError(errors)


#: The release's STARD 2015 report of the diagnostic study (when the study enrols suspected ALS).
STARD_DIR = "stard"
STARD_REPORT = f"{STARD_DIR}/stard_report.md"
STARD_FLOW = f"{STARD_DIR}/stard_flow.svg"
STARD_JSON = f"{STARD_DIR}/stard_flow.json"
#: The release writes its STARD report as the study itself, reading every site.
_STARD_READER = roles.Actor(user=None, role=roles.ADMIN, site_ids=None)


def write_stard(folder: Path, *, deidentify: bool) -> bool:
    """Write the STARD flow (SVG, JSON) and checklist (Markdown) of the diagnostic study into a
    release folder, from the data frozen with it; False when the study has no subject enrolled
    as suspected ALS (nothing to report) or too few for a report."""
    if not Subject.objects.filter(group=Group.SUSPECTED).exists():
        return False
    try:
        report = reports.stard_report(
            user=_STARD_READER,
            marker="mbs_read",
            population="suspected",
            filters=reports.Filters(),
            withhold_identifiers=deidentify,
        )
    except (InsufficientDataError, ValueError):
        return False
    result = report.result
    (folder / STARD_DIR).mkdir(parents=True, exist_ok=True)
    (folder / STARD_FLOW).write_text(result["svg"], encoding="utf-8")
    bundle.write_json(
        folder / STARD_JSON,
        {k: result[k] for k in ("marker", "population", "visit_code", "nodes", "edges")},
    )
    text = stard.report_markdown(
        result["checklist"], title="STARD 2015 report of the diagnostic study (MotorBand release)"
    )
    (folder / STARD_REPORT).write_text(text, encoding="utf-8")
    return True


def release_stard(release: Release) -> Path | None:
    """The release's STARD report file, if it has one."""
    path = release_folder(release.pk) / STARD_REPORT
    return path if path.is_file() else None


def release_create(
    *,
    user: Acting,
    fmt: str,
    deidentify: bool = False,
    date_mode: str = deid.BASELINE,
    site_mode: str = deid.KEEP,
    sites: Sequence[str] = (),
    groups: Sequence[str] = (),
    request: RequestLike | None = None,
) -> Release:
    """Export the study in ``fmt`` and freeze it as a release; only exporters may.

    Raises ``PermissionError`` for other roles and ``ValidationError`` ({field: message}) for an
    unknown format, filter or mode. The release is recorded in the access log, with the client's
    address when the page or API passes its ``request``.
    """
    if user is not None and roles.role_of(user) not in roles.EXPORTERS:
        raise PermissionError("Releases are made by data managers and administrators.")
    sites, groups = sorted(set(sites)), sorted(set(groups))
    _validate(fmt=fmt, deidentify=deidentify, date_mode=date_mode, site_mode=site_mode, sites=sites)
    bad_groups = sorted(set(groups) - set(Group.values))
    if bad_groups:
        raise ValidationError({"groups": f"Unknown group(s): {', '.join(bad_groups)}."})
    release_id = uuid.uuid4()
    created_at = timezone.now()
    folder = release_folder(release_id)
    archive = Path(settings.MEDIA_ROOT) / RELEASES_DIR / f"{release_id}.zip"
    filters: dict[str, Any] = {"sites": sites, "groups": groups}
    if deidentify:
        filters.update(date_mode=date_mode, site_mode=site_mode)
    try:
        if fmt == ReleaseFormat.BIDS:
            if sites or groups:
                raise ValidationError(
                    {"sites": "The BIDS bundle is the whole study: filters apply to trial formats."}
                )
            bundle.export_bundle(folder)
            # The release's manifest sits at the bundle's root, where BIDS has no place for it.
            with (folder / bundle.BIDSIGNORE).open("a", encoding="utf-8") as ignore:
                ignore.write(f"/{MANIFEST}\n")
            band_versions = sorted(
                set(
                    QuantificationRun.objects.filter(status=RunStatus.DONE).values_list(
                        "algorithm_version", flat=True
                    )
                ),
                key=bundle.dictionary_version_key,
            )
        else:
            _, tables = trial.export_trial(
                folder,
                fmt=fmt,
                sites=sites,
                groups=groups,
                deidentify=deidentify,
                date_mode=date_mode,
                site_mode=site_mode,
            )
            band_versions = tables.algorithm_versions
        if write_stard(folder, deidentify=deidentify) and fmt == ReleaseFormat.BIDS:
            with (folder / bundle.BIDSIGNORE).open("a", encoding="utf-8") as ignore:
                ignore.write(f"/{STARD_DIR}/\n")
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        algorithm_versions = {
            "motorband": software_version(),
            "band_current": band.ALGORITHM_VERSION,
            "band_in_release": band_versions,
        }
        creator = roles.history_user(user)
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "release": str(release_id),
            "created_at": created_at.isoformat(),
            "created_by": creator.get_username() if creator is not None else None,
            "format": fmt,
            "deidentify": deidentify,
            "filters": filters,
            "algorithm_versions": algorithm_versions,
            "files": [
                {
                    "path": p.relative_to(folder).as_posix(),
                    "sha256": sha256_of(p),
                    "size_bytes": p.stat().st_size,
                }
                for p in files
            ],
        }
        bundle.write_json(folder / MANIFEST, manifest)
        write_zip(folder, archive)
        # The row and its access-log entry together: a failed entry leaves no release.
        with transaction.atomic():
            release = Release.objects.create(
                id=release_id,
                created_at=created_at,
                created_by=creator,
                format=fmt,
                deidentify=deidentify,
                filters=filters,
                algorithm_versions=algorithm_versions,
                manifest=manifest,
                archive=archive.relative_to(Path(settings.MEDIA_ROOT)).as_posix(),
                sha256=sha256_of(archive),
                size_bytes=archive.stat().st_size,
            )
            record_access(
                request,
                AccessAction.EXPORT,
                f"release:{release.pk}",
                user=creator,
                format=fmt,
                deidentify=deidentify,
                filters=filters,
                sha256=release.sha256,
            )
        return release
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        archive.unlink(missing_ok=True)
        raise


def release_list(*, user: Acting) -> QuerySet[Release]:
    """Releases visible to the user: all of them for exporters, none otherwise."""
    releases = Release.objects.select_related("created_by").order_by("-created_at")
    if roles.role_of(user) not in roles.EXPORTERS:
        return releases.none()
    return releases


def release_open(release: Release) -> IO[bytes]:
    """The release's zip, opened for streaming."""
    return release_zip_path(release).open("rb")


def release_verify(release: Release) -> bool:
    """Whether the stored zip still has the release's checksum."""
    path = release_zip_path(release)
    return path.is_file() and sha256_of(path) == release.sha256


def manifest_json(release: Release) -> str:
    return json.dumps(release.manifest, indent=2)
