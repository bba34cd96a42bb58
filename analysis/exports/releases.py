"""Release services: freeze an export (files, manifest with sha256 per file, a zip) and read it back.

A release is written once under ``MEDIA_ROOT/releases/<id>/`` with ``manifest.json`` (who, when,
format, filters, de-identification, algorithm versions, each file's sha256 and size) and zipped
deterministically into ``MEDIA_ROOT/releases/<id>.zip``, whose sha256 the ``Release`` row keeps; the
row is created last, so a failed export leaves neither row nor files. Both are built under temporary
names beside their targets (``releases/.partial-...``) and renamed into place once complete, so a
worker killed mid-build leaves no half release under a release's name; the temporary files of a
job failed as stale are removed then, and any left for longer than the stale time are swept.

Releases are built in the background as export jobs (``job_request``, ``job_execute`` run by the
Celery task ``analysis.tasks.build_release``; in-process when no broker is configured): a job
records its status, progress (0-1, never going back) and what it is doing, and links the release
once it is frozen. A job queued or running whose worker reported nothing for
``settings.MOTORBAND_JOB_STALE_SECONDS`` is failed when jobs are next read; a job whose task cannot be
sent to the queue is failed at once. Releases are frozen (never deleted), so a job's history is kept
with them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import shutil
import time
import tomllib
import uuid
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Greatest
from django.http import HttpRequest
from django.utils import timezone

from analysis import reports, stard
from analysis.exports import bundle, trial
from analysis.exports import deidentify as deid
from analysis.models import ExportJob, JobStatus, Release, ReleaseFormat
from analysis.stats.errors import InsufficientDataError
from cohort.models import Group, Site, Subject
from core import roles
from core.access import RequestLike, client_address, record_access
from core.models import AccessAction
from core.roles import Acting
from imaging import band
from imaging.models import QuantificationRun, RunStatus

RELEASES_DIR = "releases"
MANIFEST = "manifest.json"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same files always give the same zip bytes
CHUNK_BYTES = 1 << 20
MANIFEST_VERSION = 1

logger = logging.getLogger(__name__)


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


def write_zip(
    folder: Path, target: Path, progress: Callable[[int, int], None] | None = None
) -> None:
    """Zip every file of ``folder`` (sorted, fixed timestamps and modes), streaming each file;
    ``progress(bytes done, bytes in all)`` is called after each file."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    done = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with path.open("rb") as source, archive.open(info, "w", force_zip64=True) as out:
                shutil.copyfileobj(source, out, CHUNK_BYTES)
            done += path.stat().st_size
            if progress is not None:
                progress(done, total)


#: Fractions of a release's progress at its steps (the tables or bundle take most of the time).
TABLES_START, TABLES_END, CHECKSUMS_AT, ZIP_START, ZIP_END = 0.3, 0.7, 0.72, 0.75, 0.98
#: A BIDS bundle's images are copied between these fractions (one report per image).
BIDS_START, IMAGES_START, IMAGES_END = 0.05, 0.1, 0.65
Progress = Callable[[float, str], None]
#: Reports of single files (images copied, files zipped) reach the job at most this often, so that
#: a bundle of thousands of files does not write the database thousands of times.
FILE_PROGRESS_INTERVAL_SECONDS = 0.5
#: Temporary names of releases being built, beside their targets under ``releases/``.
STAGING_PREFIX = ".partial-"


def monotonic_seconds() -> float:
    """The clock file-by-file reports are throttled by."""
    return time.monotonic()


class ThrottledProgress:
    """Pass file-by-file reports on to ``report`` at most once per ``interval_seconds`` (the
    first and the last always pass), so that a job's row is written a few times a second at
    most however many files a release holds."""

    def __init__(
        self,
        report: Progress,
        *,
        interval_seconds: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.report = report
        self.interval_seconds = (
            FILE_PROGRESS_INTERVAL_SECONDS if interval_seconds is None else interval_seconds
        )
        self.clock = clock if clock is not None else monotonic_seconds
        self.last: float | None = None

    def __call__(self, fraction: float, message: str, *, last: bool = False) -> None:
        now = self.clock()
        if last or self.last is None or now - self.last >= self.interval_seconds:
            self.last = now
            self.report(fraction, message)


def staging_folder(name: str) -> Path:
    """The temporary folder a release is built in before it is renamed to its place."""
    return Path(settings.MEDIA_ROOT) / RELEASES_DIR / f"{STAGING_PREFIX}{name}"


def _staging_zip(staging: Path) -> Path:
    return staging.with_name(staging.name + ".zip")


def _remove_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    _staging_zip(staging).unlink(missing_ok=True)


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
    progress: Progress | None = None,
    staging_name: str | None = None,
) -> Release:
    """Export the study in ``fmt`` and freeze it as a release; only exporters may.

    Raises ``PermissionError`` for other roles and ``ValidationError`` ({field: message}) for an
    unknown format, filter or mode. The release is recorded in the access log, with the client's
    address when the page or API passes its ``request``. ``progress(fraction, message)`` hears
    of each step and, a few times a second at most, of the images copied and files zipped (a
    background job records them). The release is built in ``staging_folder(staging_name)``
    (default: named after the release) and renamed to its place once complete.
    """
    step: Progress = progress if progress is not None else (lambda fraction, message: None)
    step(0.0, "Checking the request")
    sites, groups = release_check(
        user=user,
        fmt=fmt,
        deidentify=deidentify,
        date_mode=date_mode,
        site_mode=site_mode,
        sites=sites,
        groups=groups,
    )
    release_id = uuid.uuid4()
    created_at = timezone.now()
    target_folder = release_folder(release_id)
    archive = Path(settings.MEDIA_ROOT) / RELEASES_DIR / f"{release_id}.zip"
    folder = staging_folder(staging_name or f"release-{release_id}")
    staged_zip = _staging_zip(folder)
    files_step = ThrottledProgress(step)
    filters: dict[str, Any] = {"sites": sites, "groups": groups}
    if deidentify:
        filters.update(date_mode=date_mode, site_mode=site_mode)
    renamed = False
    try:
        if fmt == ReleaseFormat.BIDS:
            step(BIDS_START, "Writing the BIDS bundle (phenotype files)")

            def image_copied(done: int, total: int, path: str) -> None:
                files_step(
                    IMAGES_START + (IMAGES_END - IMAGES_START) * done / max(total, 1),
                    f"Copying image {done} of {total} ({path})",
                    last=done == total,
                )

            bundle.export_bundle(folder, on_image=image_copied)
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
            step(0.05, "Reading the study")
            tables = trial.trial_tables(
                sites=sites,
                groups=groups,
                deidentify=deidentify,
                date_mode=date_mode,
                site_mode=site_mode,
            )
            trial.write_trial(
                tables,
                folder,
                fmt,
                progress=lambda done, total, name: step(
                    TABLES_START + (TABLES_END - TABLES_START) * done / total, f"Writing {name}"
                ),
            )
            band_versions = tables.algorithm_versions
        step(TABLES_END, "Writing the STARD report")
        if write_stard(folder, deidentify=deidentify) and fmt == ReleaseFormat.BIDS:
            with (folder / bundle.BIDSIGNORE).open("a", encoding="utf-8") as ignore:
                ignore.write(f"/{STARD_DIR}/\n")
        step(CHECKSUMS_AT, "Computing the checksums of the files")
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
        write_zip(
            folder,
            staged_zip,
            progress=lambda done, total: files_step(
                ZIP_START + (ZIP_END - ZIP_START) * done / max(total, 1),
                f"Zipping the release ({done / 1e6:.0f} of {total / 1e6:.0f} MB)",
                last=done >= total,
            ),
        )
        step(ZIP_END, "Recording the release")
        # Complete: renamed into place (atomic within the releases folder), then recorded.
        renamed = True
        os.replace(folder, target_folder)
        os.replace(staged_zip, archive)
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
        _remove_staging(folder)
        if renamed:
            shutil.rmtree(target_folder, ignore_errors=True)
            archive.unlink(missing_ok=True)
        raise


def release_check(
    *,
    user: Acting,
    fmt: str,
    deidentify: bool = False,
    date_mode: str = deid.BASELINE,
    site_mode: str = deid.KEEP,
    sites: Sequence[str] = (),
    groups: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """Refuse what ``release_create`` would refuse, before any work: ``PermissionError`` for
    roles other than exporters, ``ValidationError`` ({field: message}) for a bad request.
    Returns the sites and groups, sorted and without repeats."""
    if user is not None and roles.role_of(user) not in roles.EXPORTERS:
        raise PermissionError("Releases are made by data managers and administrators.")
    sites, groups = sorted(set(sites)), sorted(set(groups))
    _validate(fmt=fmt, deidentify=deidentify, date_mode=date_mode, site_mode=site_mode, sites=sites)
    bad_groups = sorted(set(groups) - set(Group.values))
    if bad_groups:
        raise ValidationError({"groups": f"Unknown group(s): {', '.join(bad_groups)}."})
    if fmt == ReleaseFormat.BIDS and (sites or groups):
        raise ValidationError(
            {"sites": "The BIDS bundle is the whole study: filters apply to trial formats."}
        )
    return sites, groups


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


# --- background jobs -------------------------------------------------------------------------

WAITING_MESSAGE = "Waiting for a worker"
DONE_MESSAGE = "Release ready to download"
QUEUE_DOWN_MESSAGE = (
    "The task queue (Redis/Celery) could not be reached: {error}; nothing was built. Start Redis "
    "and the Celery worker (or ask an administrator to), then ask for the release again."
)


class JobAbandonedError(Exception):
    """The job stopped being the worker's to build (failed as stale meanwhile)."""


def stale_after() -> dt.timedelta:
    """How long a queued or running job may go without a report from its worker
    (``settings.MOTORBAND_JOB_STALE_SECONDS``, 15 minutes unless set)."""
    return dt.timedelta(seconds=int(getattr(settings, "MOTORBAND_JOB_STALE_SECONDS", 15 * 60)))


def _duration_words(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = seconds // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def stale_job_message() -> str:
    """The error of a job failed as stale, naming the current stale time."""
    return (
        f"No progress for {_duration_words(stale_after())}: the worker probably stopped; start "
        "it again (celery -A motorband worker), then ask for the release again. Nothing was kept."
    )


def job_request(
    *,
    user: Acting,
    fmt: str,
    deidentify: bool = False,
    date_mode: str = deid.BASELINE,
    site_mode: str = deid.KEEP,
    sites: Sequence[str] = (),
    groups: Sequence[str] = (),
    request: RequestLike | None = None,
    enqueue: bool = True,
) -> ExportJob:
    """Ask for a release to be built in the background; only exporters may.

    The request is checked at once (``PermissionError``, ``ValidationError`` as
    ``release_create``); the job is then queued for a Celery worker when the transaction commits,
    or, with no broker configured, built in-process before this returns (as releases always were).
    When the task cannot be sent (the broker is down) the job is failed at once with a message.
    """
    sites, groups = release_check(
        user=user,
        fmt=fmt,
        deidentify=deidentify,
        date_mode=date_mode,
        site_mode=site_mode,
        sites=sites,
        groups=groups,
    )
    jobs_fail_stale()
    job = ExportJob.objects.create(
        created_by=roles.history_user(user),
        client_address=client_address(request) if request is not None else None,
        format=fmt,
        parameters={
            "deidentify": deidentify,
            "date_mode": date_mode,
            "site_mode": site_mode,
            "sites": sites,
            "groups": groups,
        },
        progress_message=WAITING_MESSAGE,
    )
    if enqueue:
        _enqueue(job.pk)
        job.refresh_from_db()
    return job


def _enqueue(job_id: uuid.UUID) -> None:
    from analysis.tasks import build_release

    if settings.CELERY_TASK_ALWAYS_EAGER:
        # No broker: the same process and database connection builds it now, as before jobs.
        build_release.delay(str(job_id))
        return

    def send() -> None:
        try:
            build_release.delay(str(job_id))
        except Exception as exc:  # kombu's OperationalError, redis' ConnectionError, ...
            logger.exception("Export job %s could not be sent to the task queue", job_id)
            job_fail(job_id, QUEUE_DOWN_MESSAGE.format(error=exc), statuses=(JobStatus.QUEUED,))

    # A worker must see the committed job.
    transaction.on_commit(send)


def job_fail(
    job_id: uuid.UUID | str,
    error: str,
    *,
    statuses: Sequence[str] = (JobStatus.QUEUED, JobStatus.RUNNING),
) -> bool:
    """Record a job as failed with ``error`` (only while it is in one of ``statuses``) and remove
    its temporary build files; whether it was failed."""
    failed = ExportJob.objects.filter(pk=job_id, status__in=list(statuses)).update(
        status=JobStatus.FAILED,
        error=error,
        progress_message="Failed",
        finished_at=timezone.now(),
    )
    _remove_staging(staging_folder(_job_staging_name(job_id)))
    return bool(failed)


def _job_staging_name(job_id: uuid.UUID | str) -> str:
    return f"job-{job_id}"


def _job_request(job: ExportJob) -> HttpRequest:
    """The asking request as the access log records it: its user and client address."""
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = job.client_address or ""
    request.user = job.created_by if job.created_by is not None else AnonymousUser()
    return request


def _failure(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(str(m) for m in exc.messages)
    if isinstance(exc, PermissionError) and exc.errno is None:  # a role refused, not a file
        return f"{exc} (the account that asked for this release may no longer hold that role)"
    return (
        f"The release could not be built: {exc.__class__.__name__}: {exc}. The files written so "
        "far were removed; ask for it again, or show this message to an administrator."
    )


def job_execute(job_id: uuid.UUID | str) -> ExportJob:
    """Build a queued job's release (the Celery task calls this), recording its progress; a
    failure is recorded on the job with a message, not raised. A job that is not queued (done,
    failed, or taken by another worker) is returned untouched; a job failed as stale while it is
    built stops at its next step and keeps its failure."""
    jobs_fail_stale()
    now = timezone.now()
    claimed = ExportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, progress_message="Starting"
    )
    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    if not claimed:
        return job

    def progress(fraction: float, message: str) -> None:
        recorded = ExportJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            progress=Greatest(F("progress"), Value(min(max(fraction, 0.0), 1.0))),
            progress_message=message[:200],
            heartbeat_at=timezone.now(),
        )
        if not recorded:
            raise JobAbandonedError(f"Export job {job_id} is no longer running.")

    parameters = job.parameters
    try:
        release = release_create(
            user=job.created_by,
            fmt=job.format,
            deidentify=bool(parameters.get("deidentify", False)),
            date_mode=parameters.get("date_mode", deid.BASELINE),
            site_mode=parameters.get("site_mode", deid.KEEP),
            sites=parameters.get("sites", []),
            groups=parameters.get("groups", []),
            request=_job_request(job),
            progress=progress,
            staging_name=_job_staging_name(job_id),
        )
    except JobAbandonedError:
        logger.warning(
            "Export job %s was failed while it was built; its files were removed", job_id
        )
    except Exception as exc:
        logger.exception("Export job %s failed", job_id)
        job_fail(job_id, _failure(exc), statuses=(JobStatus.RUNNING,))
    else:
        ExportJob.objects.filter(pk=job_id).update(
            status=JobStatus.DONE,
            release=release,
            progress=1.0,
            progress_message=DONE_MESSAGE,
            finished_at=timezone.now(),
        )
    job.refresh_from_db()
    return job


def jobs_fail_stale(now: dt.datetime | None = None) -> int:
    """Fail the jobs whose worker vanished or never came: running with no report, or queued
    since, for longer than ``stale_after()`` (queued ones only while no worker reports progress
    on another job: a busy worker is not a missing one); their temporary build files are
    removed, and so are any temporary files left beside the releases for longer than that.
    Returns the number of jobs failed."""
    now = now or timezone.now()
    limit = now - stale_after()
    stale = Q(status=JobStatus.RUNNING, heartbeat_at__lt=limit)
    # Queued jobs wait for a worker; while one reports progress on another job the queue moves.
    if not ExportJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__gte=limit).exists():
        stale |= Q(status=JobStatus.QUEUED, created_at__lt=limit)
    ids = list(ExportJob.objects.filter(stale).values_list("pk", flat=True))
    failed = 0
    if ids:
        failed = ExportJob.objects.filter(stale, pk__in=ids).update(
            status=JobStatus.FAILED,
            finished_at=now,
            progress_message="Failed",
            error=stale_job_message(),
        )
        for job_id in ids:
            _remove_staging(staging_folder(_job_staging_name(job_id)))
    staging_sweep(older_than=limit)
    return failed


def staging_sweep(*, older_than: dt.datetime) -> list[Path]:
    """Remove the temporary build files (``releases/.partial-*``) of builds that stopped: those
    of a job no longer queued or running, and others where nothing was written since
    ``older_than``. Frozen releases are never touched. Returns what was removed."""
    root = Path(settings.MEDIA_ROOT) / RELEASES_DIR
    try:
        entries = sorted(e for e in root.iterdir() if e.name.startswith(STAGING_PREFIX))
    except (FileNotFoundError, NotADirectoryError):
        return []
    live = {
        f"{STAGING_PREFIX}{_job_staging_name(pk)}"
        for pk in ExportJob.objects.filter(
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).values_list("pk", flat=True)
    }
    job_prefix = f"{STAGING_PREFIX}{_job_staging_name('')}"
    removed = []
    for entry in entries:
        stem = entry.name.removesuffix(".zip")
        if stem in live:
            continue  # a job's worker reports its heartbeat; jobs_fail_stale judges it
        if not stem.startswith(job_prefix) and _last_written(entry) >= older_than.timestamp():
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _last_written(path: Path) -> float:
    """The latest modification time in a file or folder tree (0 when it vanished meanwhile)."""
    try:
        latest = path.stat().st_mtime
        if path.is_dir():
            for child in path.rglob("*"):
                latest = max(latest, child.stat().st_mtime)
    except FileNotFoundError:
        return 0.0
    return latest


def job_list(*, user: Acting) -> QuerySet[ExportJob]:
    """Export jobs visible to the user, latest first: all of them for exporters, none otherwise
    (stale jobs are failed first). Jobs are never deleted: with their releases they are the
    history of what was exported, by whom and when."""
    jobs = ExportJob.objects.select_related("created_by", "release").order_by("-created_at")
    if roles.role_of(user) not in roles.EXPORTERS:
        return jobs.none()
    jobs_fail_stale()
    return jobs
