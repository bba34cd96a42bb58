"""Fixtures of the export tests: a small study with every kind of record, and bundle helpers."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from cohort import services
from imaging import band
from imaging import services as imaging_services
from tests.factories import ENROLLED, alsfrs_items, make_site, make_subject, make_visit, umn_items

RATERS = ("rater_one", "rater_two")


def phantom_pair(folder: Path, seed: int) -> dict[str, Path]:
    """An SWI phantom and its label map written to ``folder`` (unique bytes per seed)."""
    phantom = band.make_phantom(
        (48, 48, 48), (2.0, 2.0, 2.0), band_contrast=(0.2, 0.05), noise_sd=2.0, seed=seed
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"swi": folder / f"p{seed}_swi.nii.gz", "labels": folder / f"p{seed}_dseg.nii.gz"}
    nib.save(phantom.swi, paths["swi"])
    nib.save(phantom.labels, paths["labels"])
    return paths


@pytest.fixture
def study(db: Any, tmp_path: Path) -> dict[str, Any]:
    """Two sites; an ALS subject (V1-V3, images, reads, a quantification run, NIV and death),
    a control (V1, V2 and a missed V3) and a PLS subject (V1 and a scheduled V2)."""
    edm = make_site("EDM", "Edmonton")
    tor = make_site("TOR", "Toronto")
    als = make_subject(study_id="EDM-0001", site=edm, group="ALS", comment="Lives on Elm St.")
    control = make_subject(
        study_id="TOR-0002",
        site=tor,
        group="CONTROL",
        sex="M",
        handedness="",
        birth_date=dt.date(1958, 11, 23),
    )
    pls = make_subject(
        study_id="EDM_0003",
        site=edm,
        group="PLS",
        onset_region="bulbar",
        diagnosis_date=None,
        birth_date=dt.date(1947, 6, 30),
    )
    visits = {}
    for number in (1, 2, 3):
        code = f"V{number}"
        visit = make_visit(als, code, comment="Came with daughter" if number == 1 else "")
        services.umn_exam_save(user=None, visit=visit, items=umn_items(4 + number))
        services.alsfrs_save(
            user=None,
            visit=visit,
            items=alsfrs_items(q1=4 - number, q5=2, q5_gastrostomy=number == 3),
        )
        visits[code] = visit
    for number in (1, 2):
        visit = make_visit(control, f"V{number}")
        services.umn_exam_save(user=None, visit=visit, items=umn_items(0))
    make_visit(control, "V3", status="missed")
    v1 = make_visit(pls, "V1")
    items = umn_items(3)
    items["jaw_jerk"] = None
    services.umn_exam_save(user=None, visit=v1, items=items)
    services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q12=3))
    make_visit(pls, "V2", date=dt.date.today() + dt.timedelta(days=30), status="scheduled")
    services.event_create(
        user=None, subject=als, kind="niv", date=ENROLLED + dt.timedelta(days=250)
    )
    services.event_create(
        user=None, subject=als, kind="death", date=ENROLLED + dt.timedelta(days=300)
    )
    paths = phantom_pair(tmp_path / "phantoms", seed=5)
    swi = imaging_services.scan_upload(
        user=None,
        visit=visits["V1"],
        kind="swi",
        upload=paths["swi"].open("rb"),
        name=paths["swi"].name,
        field_strength=3.0,
        manufacturer="Siemens",
        scanner_model="Prisma",
    )
    imaging_services.scan_upload(
        user=None,
        visit=visits["V1"],
        kind="labels",
        upload=paths["labels"].open("rb"),
        name=paths["labels"].name,
    )
    run, _ = imaging_services.run_request(user=None, scan=swi, enqueue=False)
    imaging_services.run_execute(run.pk)
    from imaging.reading import read_import

    for name, grades in zip(RATERS, ((1, 2), (1, 1)), strict=True):
        rater = services.study_user_save(username=name, role="rater", password="pw-Test-123!")
        read_import(
            user=None,
            scan=swi,
            rater=rater,
            left_grade=grades[0],
            right_grade=grades[1],
            confidence=2,
        )
    return {"als": als, "control": control, "pls": pls, "swi": swi, "run": run}


def media_files(media_root: Path) -> dict[str, bytes]:
    """Every stored file's relative path and bytes."""
    root = Path(media_root)
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def table_counts() -> dict[str, int]:
    """Row counts of every MotorBand table (and users), to prove an import wrote nothing."""
    from django.apps import apps

    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in ("cohort", "imaging", "analysis", "auth")
    }


def _dicom_zip(shared_data: Path, target: Path) -> Path:
    """The real Siemens XA30 dual-echo GRE series (one enhanced DICOM per echo) as an upload."""
    with zipfile.ZipFile(target, "w") as archive:
        for dcm in sorted((shared_data / "siemens-xa30-gre" / "dicom").glob("*.dcm")):
            archive.write(dcm, f"series/{dcm.name}")
    return target


def _susceptibility_map(like: Path, target: Path) -> Path:
    """A QSM-like map in ppm (signed, about +-0.1) on the grid of a real image."""
    grid: Any = nib.load(like)
    rng = np.random.default_rng(7)
    values = rng.normal(0.0, 0.03, grid.shape[:3]).astype(np.float32)
    nib.save(nib.Nifti1Image(values, grid.affine), target)
    return target


def _upload(visit: Any, kind: str, path: Path, **fields: Any) -> Any:
    with path.open("rb") as handle:
        return imaging_services.scan_upload(
            user=None, visit=visit, kind=kind, upload=handle, name=path.name, **fields
        )


@pytest.fixture
def real_study(study: dict[str, Any], shared_data: Path, tmp_path: Path) -> dict[str, Any]:
    """The ``study`` with real images of every kind added (shared data, see SOURCES.md).

    EDM-0001 V2: FreeSurfer bert (``norm.mgz`` as the SWI magnitude, ``aparc+aseg.mgz`` as its
    label map); TOR-0002 V1: the Siemens XA30 GRE series (echo 2 from the DICOMs as SWI, echo 1
    NIfTI as GRE magnitude) and the same subject's T1w; EDM_0003 V1: the 3-echo GRE crop
    (magnitude and phase, echo 1) and a QSM map on its grid.
    """
    from cohort.models import Visit

    edm_v2 = Visit.objects.get(subject=study["als"], visit_code="V2")
    tor_v1 = Visit.objects.get(subject=study["control"], visit_code="V1")
    pls_v1 = Visit.objects.get(subject=study["pls"], visit_code="V1")
    bert = shared_data / "freesurfer-bert"
    xa30 = shared_data / "siemens-xa30-gre"
    gre = shared_data / "gre-3echo-crop"
    scans = {
        "bert_swi": _upload(edm_v2, "swi", bert / "norm.mgz", field_strength=1.5),
        "bert_labels": _upload(edm_v2, "labels", bert / "aparc+aseg.mgz"),
        "xa30_swi": _upload(tor_v1, "swi", _dicom_zip(shared_data, tmp_path / "gre.zip"), echo=2),
        "xa30_magnitude": _upload(
            tor_v1, "gre_magnitude", xa30 / "nifti" / "8_gre_field_mapping_e1.nii"
        ),
        "xa30_t1": _upload(tor_v1, "t1", xa30 / "nifti" / "5_anat-T1w_acq-tfl.nii"),
        "gre_magnitude": _upload(pls_v1, "gre_magnitude", gre / "Mag.nii.gz", echo=1),
        "gre_phase": _upload(pls_v1, "gre_phase", gre / "Phase.nii", echo=1),
        "qsm": _upload(
            pls_v1, "qsm", _susceptibility_map(gre / "Mag.nii.gz", tmp_path / "qsm_Chimap.nii.gz")
        ),
    }
    return {**study, **scans}
