"""Imaging services: the only writers of scans, quantification runs and measurements.

Uploads are streamed to a private temporary folder, hashed and validated (imaging.band.io) before
anything is stored; a failure leaves no file and no row. Runs are versioned by algorithm version and
parameters: asking again for an unchanged scan and method returns the existing run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import nibabel as nib
import numpy as np
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from cohort.models import Visit, VisitStatus
from core import records, roles
from core.roles import Acting
from imaging import band, checks
from imaging.band import labels as band_labels
from imaging.models import (
    QUANTIFIABLE_KINDS,
    Measurement,
    QcStatus,
    QuantificationRun,
    RunStatus,
    Scan,
    ScanKind,
)

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
NIFTI_SUFFIXES = (".nii.gz", ".nii", ".mgz")
UPLOAD_SUFFIXES = (*NIFTI_SUFFIXES, ".zip")
# A run "running" longer than this lost its worker (killed machine, OOM): it is failed, retryable.
STALE_RUN_AFTER = dt.timedelta(minutes=30)
THICK_SLICE_MM = 3.0


def max_upload_bytes() -> int:
    return int(getattr(settings, "MOTORBAND_MAX_UPLOAD_BYTES", 2 * 1024**3))


def _suffix(name: str) -> str:
    lower = name.lower()
    return next((s for s in UPLOAD_SUFFIXES if lower.endswith(s)), "")


@dataclass
class InspectedFile:
    """A validated upload ready to be stored."""

    path: Path
    stored_name: str
    sha256: str
    size_bytes: int
    metadata: dict[str, Any]


def _stream_to(source: IO[bytes] | Any, target: Path) -> tuple[str, int]:
    """Copy an upload to ``target`` in chunks, hashing as it goes; refuse what is too large."""
    digest = hashlib.sha256()
    size = 0
    limit = max_upload_bytes()
    chunks = (
        source.chunks(CHUNK_BYTES)
        if hasattr(source, "chunks")
        else iter(lambda: source.read(CHUNK_BYTES), b"")
    )
    with target.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise ValidationError(
                    {"file": f"The file is larger than the upload limit ({limit // 1024**2} MiB)."}
                )
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise ValidationError({"file": "The file is empty."})
    return digest.hexdigest(), size


def _choose_echo(paths: list[Path], echo: int | None, kind: str) -> Path:
    if len(paths) == 1:
        if echo not in (None, 1):
            raise ValidationError({"echo": f"The series has one echo; echo {echo} does not exist."})
        return paths[0]
    if echo is None:
        raise ValidationError(
            {
                "echo": f"The DICOM series holds {len(paths)} echoes; choose one with echo=1.."
                f"{len(paths)} for this {kind} scan."
            }
        )
    if not 1 <= echo <= len(paths):
        raise ValidationError({"echo": f"Choose an echo between 1 and {len(paths)}."})
    return paths[echo - 1]


def _volume_warnings(kind: str, metadata: dict[str, Any]) -> list[str]:
    warnings = []
    voxel = metadata.get("voxel_size") or []
    if kind != ScanKind.LABELS and voxel and max(voxel) > THICK_SLICE_MM:
        warnings.append(
            f"Voxels up to {max(voxel):.1f} mm: the band may be invisible at this resolution."
        )
    if kind in (ScanKind.SWI, ScanKind.QSM) and not metadata.get("field_strength"):
        warnings.append("Field strength unknown: enter it so sites can be harmonized.")
    nan_voxels = int(metadata.get("nan_voxels") or 0)
    if nan_voxels:
        warnings.append(
            f"{nan_voxels} voxels hold no value (NaN), as masked QSM/CLEARSWI outputs do outside "
            "the brain; a run refuses them only inside the measured cortex or its reference."
        )
    return warnings


def inspect_upload(
    source: Any, *, name: str, kind: str, workdir: Path, echo: int | None = None
) -> InspectedFile:
    """Stream, hash and validate an uploaded scan; raise ValidationError naming the problem.

    Parameters
    ----------
    source : Django UploadedFile or binary file object
    name : the client's file name (its suffix selects the reader)
    kind : a ScanKind value
    workdir : a private temporary folder (removed by the caller)
    echo : 1-based echo of a multi-echo series or 4-D file, where it has several
    """
    suffix = _suffix(name)
    if not suffix:
        raise ValidationError(
            {"file": f"'{name}' is not a .nii, .nii.gz, .mgz or .zip (DICOM series) file."}
        )
    # Keep the client's (sanitized) name so every message names the file the user sent.
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name)[-120:].lstrip(".") or "upload"
    raw = workdir / (safe if safe.lower().endswith(suffix) else f"upload{suffix}")
    sha256, size = _stream_to(source, raw)
    try:
        if suffix == ".zip":
            converted = band.convert_dicom_zip(raw, workdir / "converted")
            path = _choose_echo(converted, echo, kind)
            echo_index = None
        else:
            path = raw
            echo_index = None if echo is None else echo - 1
        if kind == ScanKind.LABELS:
            volume = band.load_label_map(path)
        else:
            # Checked on its input kind's scale: a phase map or a negative image is no magnitude.
            volume = band.load_volume(path, echo=echo_index, kind=QUANTIFIABLE_KINDS.get(kind))
    except band.VolumeError as exc:
        raise ValidationError({"file": str(exc).replace(f"{workdir}/", "")}) from exc
    stem = Path(name).name
    for s in UPLOAD_SUFFIXES:
        if stem.lower().endswith(s):
            stem = stem[: -len(s)]
            break
    if suffix == ".zip" or (echo_index is not None and path.suffix != ".zip"):
        stored_suffix = (
            "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
        )
        if echo_index is not None:
            # Keep only the chosen echo so every stored scan is one 3-D volume.
            path = workdir / "echo.nii.gz"
            nib.save(nib.Nifti1Image(volume.data, volume.affine), path)
            stored_suffix = ".nii.gz"
        stored_name = f"{kind}{stored_suffix}"
    else:
        stored_name = f"{kind}{suffix}"
    return InspectedFile(
        path=path,
        stored_name=stored_name,
        sha256=sha256,
        size_bytes=size,
        metadata=dict(volume.metadata),
    )


def _check_visit_overlap(visit: Visit, kind: str, path: Path) -> None:
    """A label map must overlap the visit's intensity scans in world space, and vice versa."""
    if kind == ScanKind.LABELS:
        others = [s for s in visit.scans.all() if s.kind in QUANTIFIABLE_KINDS]
        labels_path, intensity_paths = path, [Path(s.file.path) for s in others]
    elif kind in QUANTIFIABLE_KINDS:
        labels_scan = visit.scans.filter(kind=ScanKind.LABELS).first()
        if labels_scan is None:
            return
        labels_path, intensity_paths = Path(labels_scan.file.path), [path]
    else:
        return
    if not intensity_paths:
        return
    try:
        labels = band.load_label_map(labels_path, check=False)
        for intensity in intensity_paths:
            band.check_overlap(band.load_volume(intensity), labels)
    except band.VolumeError as exc:
        raise ValidationError({"file": str(exc)}) from exc


def _duplicate_message(user: Acting, duplicate: Scan) -> str:
    """Name the earlier scan only to someone whose sites include it (or the system, for an
    import): its code would tell a coordinator which scan another site holds."""
    actor = roles.actor_of(user)
    if actor.user is None or actor.reaches_site(duplicate.visit.subject.site_id):
        return (
            f"This exact file was already uploaded (scan {duplicate.code}, {duplicate.kind}, "
            f"visit {duplicate.visit})."
        )
    return "This exact file was already uploaded, at another site: check the subject and visit."


def _kept_name(name: str) -> str:
    """The upload's own file name, kept only where the deployment asks for it
    (MOTORBAND_KEEP_UPLOAD_NAMES): names often hold a patient's name or hospital number."""
    if not settings.MOTORBAND_KEEP_UPLOAD_NAMES:
        return ""
    return Path(name).name[:255]


def scan_upload(
    *,
    user: Acting,
    visit: Visit,
    kind: str,
    upload: Any,
    name: str | None = None,
    echo: int | None = None,
    field_strength: float | None = None,
    manufacturer: str = "",
    scanner_model: str = "",
    reason: str = "",
) -> Scan:
    """Validate and store one scan of a visit; nothing is kept when anything is wrong.

    ``reason`` goes into the new scan's audit record (a replacement names the scan it replaces).
    """
    if kind not in ScanKind.values:
        raise ValidationError(
            {"kind": f"Unknown scan kind '{kind}'; choose one of {', '.join(ScanKind.values)}."}
        )
    if visit.status != VisitStatus.COMPLETED:
        raise ValidationError({"visit": "Scans belong to completed visits."})
    if Scan.objects.filter(visit=visit, kind=kind).exists():
        raise ValidationError(
            {
                "kind": f"Visit {visit} already has a {kind} scan; to upload a new file, use "
                "“Replace” on that scan (the old one is deleted with your reason)."
            }
        )
    name = name or getattr(upload, "name", "") or ""
    workdir = Path(tempfile.mkdtemp(prefix="motorband-upload-"))
    stored: Scan | None = None
    try:
        inspected = inspect_upload(upload, name=name, kind=kind, workdir=workdir, echo=echo)
        duplicate = (
            Scan.objects.filter(sha256=inspected.sha256).select_related("visit__subject").first()
        )
        if duplicate is not None:
            raise ValidationError({"file": _duplicate_message(user, duplicate)})
        _check_visit_overlap(visit, kind, inspected.path)
        meta = dict(inspected.metadata)
        if field_strength is not None:
            meta["field_strength"] = field_strength
        warnings = _volume_warnings(kind, meta)
        scan = Scan(
            visit=visit,
            kind=kind,
            original_name=_kept_name(name),
            sha256=inspected.sha256,
            size_bytes=inspected.size_bytes,
            shape=list(meta.get("shape") or []),
            voxel_size=[round(float(v), 6) for v in meta.get("voxel_size") or []],
            field_strength=meta.get("field_strength"),
            manufacturer=manufacturer or meta.get("manufacturer") or "",
            scanner_model=scanner_model or meta.get("model") or "",
            echo_time=meta.get("echo_time"),
            qc_notes="\n".join(warnings),
            uploaded_by=roles.history_user(user),
        )
        with transaction.atomic():
            with inspected.path.open("rb") as handle:
                scan.file.save(inspected.stored_name, File(handle), save=False)
            stored = scan
            records.save(scan, user=user, reason=reason, exclude=["file"])
        return scan
    except BaseException:
        if stored is not None and stored.file.name:
            stored.file.storage.delete(stored.file.name)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@transaction.atomic
def scan_delete(
    scan: Scan, *, user: Acting, reason: str = "", expected_version: int | None = None
) -> None:
    scan = records.lock(scan, expected_version=expected_version)
    name, storage = scan.file.name, scan.file.storage
    runs = QuantificationRun.objects.filter(Q(scan=scan) | Q(labels=scan))
    qc_files = [run.qc_image.name for run in runs if run.qc_image]
    QuantificationRun.objects.filter(labels=scan).delete()
    records.delete(scan, user=user, reason=reason)

    def remove_files() -> None:
        for stored in [name, *qc_files]:
            if stored:
                storage.delete(stored)

    transaction.on_commit(remove_files)


def scan_replace(
    scan: Scan,
    *,
    user: Acting,
    upload: Any,
    reason: str,
    name: str | None = None,
    echo: int | None = None,
    field_strength: float | None = None,
    expected_version: int | None = None,
) -> Scan:
    """Replace a scan by a new file of the same kind in one step: the old scan is deleted with the
    reason (``scan_delete``) and the new file stored (``scan_upload``, every upload rule applies),
    in one transaction. When the new file is refused nothing changes: the old scan stays.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": f"Give a reason for replacing scan {scan.code} (kept in the audit trail)."}
        )
    new: Scan | None = None
    try:
        with transaction.atomic():
            old = records.lock(scan, expected_version=expected_version)
            old_code, old_sha256 = old.code, old.sha256
            visit = old.visit
            scan_delete(old, user=user, reason=reason)
            new = scan_upload(
                user=user,
                visit=visit,
                kind=old.kind,
                upload=upload,
                name=name,
                echo=echo,
                field_strength=field_strength,
                reason=_replacement_reason(old_code, reason),
            )
            if new.sha256 == old_sha256:
                raise ValidationError(
                    {"file": f"This is the file scan {old_code} already holds: nothing to replace."}
                )
        return new
    except BaseException:
        # The rolled-back row leaves its stored file behind: remove it (the old file stays).
        if new is not None and new.file.name:
            new.file.storage.delete(new.file.name)
        raise


def _replacement_reason(old_code: str, reason: str) -> str:
    """The new scan's audit reason: the scan it replaces and why."""
    return f"Replaces {old_code}: {reason}"


#: What a person may confirm or correct on a stored scan: the scanner it was acquired on (the
#: file's own header or sidecar may lack it, or be wrong). Harmonization groups scans by
#: manufacturer + model and keeps field strength as a covariate.
SCANNER_FIELDS: tuple[str, ...] = ("manufacturer", "scanner_model", "field_strength")


@transaction.atomic
def scan_scanner_set(
    scan: Scan,
    *,
    user: Acting,
    data: Mapping[str, Any],
    reason: str,
    expected_version: int | None = None,
) -> Scan:
    """Correct the scanner of a stored scan (manufacturer, model, field strength), with a reason;
    a clinical writer of the scan's site. Anything else about a scan changes by replacing it."""
    actor = roles.actor_of(user)
    if actor.user is not None and not actor.may_write_site(scan.visit.subject.site_id):
        raise PermissionDenied("Your study role cannot correct scans of this site.")
    other = sorted(set(data) - set(SCANNER_FIELDS))
    if other:
        raise ValidationError(
            {
                name: "Only the scanner (manufacturer, model, field strength) can be corrected on "
                "a stored scan; replace the scan to change anything else."
                for name in other
            }
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": f"Give a reason for correcting the scanner of scan {scan.code}."}
        )
    scan = records.lock(scan, expected_version=expected_version)
    cleaned = {
        name: (value.strip() if isinstance(value, str) else value) for name, value in data.items()
    }
    records.assign(scan, cleaned, SCANNER_FIELDS)
    records.save(scan, user=user, reason=reason, exclude=["file"])
    return scan


# --- quantification runs ----------------------------------------------------------------------


def parameters_hash(parameters: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()


def run_request(
    *,
    user: Acting,
    scan: Scan,
    parameters: band.Parameters | None = None,
    enqueue: bool = True,
    n4: bool = False,
) -> tuple[QuantificationRun, bool]:
    """Ask for the quantification of an intensity scan with its visit's label map.

    Returns the run and whether work was queued. An unchanged scan with the same algorithm
    version and parameters returns its existing run (done, queued or running) untouched; a failed
    or abandoned run is queued again. ``n4`` (without explicit ``parameters``) asks for N4
    bias-field correction of the magnitude first; it is recorded in the run's parameters, so a
    run with it and one without are different runs.
    """
    input_kind = QUANTIFIABLE_KINDS.get(scan.kind)
    if input_kind is None:
        raise ValidationError(
            {
                "scan": f"A {scan.kind} scan cannot be quantified; use an swi, qsm or gre_magnitude scan."
            }
        )
    labels = Scan.objects.filter(visit_id=scan.visit_id, kind=ScanKind.LABELS).first()
    if labels is None:
        raise ValidationError({"labels": f"Visit {scan.visit} has no label map; upload one first."})
    if parameters is None:
        if n4 and input_kind == "qsm":
            raise ValidationError(
                {"n4": "Bias-field correction applies to SWI/T2* magnitude, not to a QSM map."}
            )
        parameters = band.Parameters(input_kind=input_kind, n4=n4)
    params = parameters.as_dict()
    anatomy = Scan.objects.filter(visit_id=scan.visit_id, kind=ScanKind.T1).first()
    if anatomy is not None and input_kind == "swi":
        # The label map's anatomy is registered to the magnitude (imaging.band.register); a new
        # or replaced T1 makes a new run. QSM maps have too little cortical contrast for it.
        params[ANATOMY_PARAMETER] = anatomy.sha256
    digest = parameters_hash(params)
    runs_fail_stale()
    with transaction.atomic():
        run, created = QuantificationRun.objects.select_for_update().get_or_create(
            scan=scan,
            labels=labels,
            algorithm_version=band.ALGORITHM_VERSION,
            parameters_hash=digest,
            defaults={
                "parameters": params,
                "input_kind": input_kind,
                "created_by": roles.history_user(user),
            },
        )
        if not created and run.status != RunStatus.FAILED:
            return run, False
        if not created:
            run.status, run.error, run.finished_at = RunStatus.QUEUED, "", None
            run.save(update_fields=["status", "error", "finished_at"])
        if enqueue:
            from imaging.tasks import quantify_run

            run_id = run.pk
            transaction.on_commit(lambda: quantify_run.delay(run_id))
    return run, True


def runs_fail_stale(now: dt.datetime | None = None) -> int:
    """Fail runs whose worker vanished (still running long after they started)."""
    now = now or timezone.now()
    return QuantificationRun.objects.filter(
        status=RunStatus.RUNNING, started_at__lt=now - STALE_RUN_AFTER
    ).update(
        status=RunStatus.FAILED,
        finished_at=now,
        error="The worker stopped without finishing this run; ask for it again.",
    )


def _claim(run_id: int) -> bool:
    """Atomically move a queued run to running; False when another worker has it."""
    return bool(
        QuantificationRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING,
            started_at=timezone.now(),
            attempts=F("attempts") + 1,
        )
    )


#: Recorded with a run's parameters when it registers the visit's T1: the T1's sha256.
ANATOMY_PARAMETER = "anatomy_sha256"


def parameters_from_dict(values: dict[str, Any]) -> band.Parameters:
    """The run's recorded parameters back as the engine's Parameters."""
    values = dict(values)
    values.pop(ANATOMY_PARAMETER, None)
    values["segment_fractions"] = band.SegmentFractions(**values["segment_fractions"])
    return band.Parameters(**values)


def _run_anatomy(run: QuantificationRun) -> str | None:
    """The stored T1 a run registers (None: world coordinates); refuse if it has gone."""
    sha256 = run.parameters.get(ANATOMY_PARAMETER)
    if not sha256:
        return None
    anatomy = Scan.objects.filter(
        visit_id=run.scan.visit_id, kind=ScanKind.T1, sha256=sha256
    ).first()
    if anatomy is None:
        raise band.VolumeError(
            "The T1 this run was asked to register has been deleted or replaced; ask for the "
            "quantification again."
        )
    return anatomy.file.path


def _tissue_dict(tissue: band.TissueMeans | None) -> dict[str, Any] | None:
    return None if tissue is None else tissue.as_dict()


def _precentral_before_registration(labels_path: str, result: band.QuantResult) -> Any:
    """The precentral labels on the run's crop where world coordinates alone put them (for the
    QC picture of a registered run: the ribbon before and after registration)."""
    labels = band.load_label_map(labels_path, check=False)
    x, y, z = result.swi_crop.shape
    whole_crop = (slice(0, x), slice(0, y), slice(0, z))
    on_crop = band.resample_labels(
        np.asarray(labels.data), labels.affine, result.crop_affine, whole_crop
    )
    return np.isin(on_crop, list(band_labels.PRECENTRAL.values()))


def run_execute(run_id: int) -> QuantificationRun:
    """Compute a queued run (the Celery task's body): measurements, QC picture, status."""
    if not _claim(run_id):
        return QuantificationRun.objects.get(pk=run_id)
    run = QuantificationRun.objects.select_related("scan", "labels").get(pk=run_id)
    try:
        params = parameters_from_dict(run.parameters)
        anatomy = _run_anatomy(run)
        result = band.quantify_files(
            run.scan.file.path, run.labels.file.path, params, anatomy=anatomy
        )
        before = None
        if result.registration is not None:
            before = _precentral_before_registration(run.labels.file.path, result)
        png = band.render_qc_png(
            result.swi_crop,
            result.deep_mask,
            result.band_mask,
            result.crop_affine,
            before_mask=before,
        )
    except Exception as exc:  # recorded on the run, never lost: the run is retryable
        log.exception("Quantification run %s failed", run_id)
        message = str(exc) if isinstance(exc, band.VolumeError) else f"{type(exc).__name__}: {exc}"
        QuantificationRun.objects.filter(pk=run_id).update(
            status=RunStatus.FAILED, error=message[:2000], finished_at=timezone.now()
        )
        run.refresh_from_db()
        return run
    run_checks = checks.run_checks(
        result.measurements,
        input_kind=run.input_kind,
        registration=getattr(result, "registration", None),
        tissue=_tissue_dict(getattr(result, "tissue", None)),
    )
    flagged = checks.failed(run_checks)
    with transaction.atomic():
        run.measurements.all().delete()
        Measurement.objects.bulk_create(
            Measurement(
                run=run,
                **{k: _clean_number(v) for k, v in m.items() if k in MEASUREMENT_COLUMNS},
                reason=m.get("reason") or "",
            )
            for m in result.measurements
        )
        if run.qc_image.name:
            run.qc_image.storage.delete(run.qc_image.name)
        run.qc_image.save(f"run-{run.pk}.png", ContentFile(png), save=False)
        run.status = RunStatus.NEEDS_REVIEW if flagged else RunStatus.DONE
        run.error = (
            "Needs review: " + " ".join(c.message for c in run_checks if not c.passed)
            if flagged
            else ""
        )
        run.finished_at = timezone.now()
        run.checks = [c.as_dict() for c in run_checks]
        run.registration = getattr(result, "registration", None)
        run.save(
            update_fields=["qc_image", "status", "error", "finished_at", "checks", "registration"]
        )
    return run


# --- quality control by a person ---------------------------------------------------------------

QC_REASON_MAX_LENGTH = 1000


def _qc_decision(
    record: Scan | QuantificationRun, *, user: Acting, status: str, reason: str
) -> str:
    """Validate a QC decision; set it on the record; return the audit reason."""
    if status not in QcStatus.values:
        raise ValidationError(
            {"status": f"Unknown QC status '{status}'; choose one of {', '.join(QcStatus.values)}."}
        )
    reason = (reason or "").strip()
    if status == QcStatus.FAIL and not reason:
        raise ValidationError({"reason": "Say why it fails QC (it leaves every analysis)."})
    if len(reason) > QC_REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": f"Keep the reason under {QC_REASON_MAX_LENGTH} characters."}
        )
    actor = roles.actor_of(user)
    site_id = (
        record.visit.subject.site_id
        if isinstance(record, Scan)
        else record.scan.visit.subject.site_id
    )
    if not actor.may_write_site(site_id):
        raise ValidationError({"status": "Your study role cannot decide QC at this site."})
    record.qc_status = status
    record.qc_reason = reason
    record.qc_by = actor.user
    record.qc_at = timezone.now()
    return f"QC {status}" + (f": {reason}" if reason else "")


@transaction.atomic
def scan_qc_set(
    scan: Scan,
    *,
    user: Acting,
    status: str,
    reason: str = "",
    expected_version: int | None = None,
) -> Scan:
    """A person's QC decision on a scan (pending, pass or fail, with a reason to fail; audited).

    A failed scan leaves every analysis, its runs included, and every rater's reading queue.
    """
    scan = records.lock(scan, expected_version=expected_version)
    audit = _qc_decision(scan, user=user, status=status, reason=reason)
    return records.save(scan, user=user, reason=audit)


@transaction.atomic
def run_qc_set(
    run: QuantificationRun, *, user: Acting, status: str, reason: str = ""
) -> QuantificationRun:
    """A person's QC decision on a run (pending, pass or fail, with a reason to fail; audited).

    A run that needs review counts in analyses once it passes; a failed run never does.
    """
    run = records.lock(run)
    if run.status not in (RunStatus.DONE, RunStatus.NEEDS_REVIEW):
        raise ValidationError(
            {"status": f"This run is {run.status}: only a finished run can be reviewed."}
        )
    audit = _qc_decision(run, user=user, status=status, reason=reason)
    return records.save(run, user=user, reason=audit)


MEASUREMENT_COLUMNS = {
    "hemisphere",
    "segment",
    "band_contrast",
    "band_extent",
    "laminar_contrast",
    "deep_mean",
    "superficial_mean",
    "reference_mean",
    "reference_sd",
    "n_voxels",
    "coverage",
    "deep_minus_reference_ppb",
    "deep_minus_superficial_ppb",
}


def _clean_number(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def runs_to_do(scan_ids: Iterable[int] | None = None) -> list[Scan]:
    """Intensity scans with a label map and no done run of the current method."""
    scans = Scan.objects.filter(kind__in=list(QUANTIFIABLE_KINDS)).filter(
        visit__scans__kind=ScanKind.LABELS
    )
    if scan_ids is not None:
        scans = scans.filter(pk__in=list(scan_ids))
    done = set(
        QuantificationRun.objects.filter(
            algorithm_version=band.ALGORITHM_VERSION,
            status__in=[RunStatus.DONE, RunStatus.NEEDS_REVIEW],
        ).values_list("scan_id", flat=True)
    )
    return [s for s in scans.distinct().order_by("pk") if s.pk not in done]
