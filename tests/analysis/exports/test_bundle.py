"""Study bundle: export, layout checks, round trip, all-or-nothing import with a row-level report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.exports import bundle
from cohort.models import Site, Subject, Visit
from imaging import band
from imaging.models import Read, Scan
from tests.analysis.exports.conftest import media_files, table_counts

pytestmark = pytest.mark.django_db(transaction=False)


def _wipe_study() -> None:
    """Empty the instance (as a fresh installation would be) without touching users' tables."""
    from cohort.models import AlsfrsR, ClinicalEvent, UmnExam
    from imaging.models import Measurement, QuantificationRun

    Read.objects.all().delete()
    Measurement.objects.all().delete()
    QuantificationRun.objects.all().delete()
    Scan.objects.all().delete()
    UmnExam.objects.all().delete()
    AlsfrsR.objects.all().delete()
    ClinicalEvent.objects.all().delete()
    Visit.objects.all().delete()
    Subject.objects.all().delete()
    Site.objects.all().delete()
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__startswith="rater_").delete()


def _tsvs(root: Path) -> dict[str, bytes]:
    """Every TSV but the band (runs are exported, not imported)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*.tsv"))
        if not p.relative_to(root).as_posix().startswith(bundle.MOTORBAND_DIR)
    }


def test_export_writes_the_contract_layout(study: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    call_command("export_study", str(root), "--format", "bids", "--no-progress")
    header = (root / "participants.tsv").read_text().splitlines()[0].split("\t")
    assert header == list(bundle.PARTICIPANT_COLUMNS)
    rows = (root / "participants.tsv").read_text().splitlines()[1:]
    assert rows[0].startswith("sub-EDM0001\tEDM-0001\tEDM\tALS\tF\t1965-03-02\tR\t")
    assert "sub-TOR0002\tTOR-0002\tTOR\tCONTROL\tM\t1958-11-23\tn/a\tn/a\tn/a\tn/a\t" in rows[2]
    visits = (root / "phenotype/visits.tsv").read_text().splitlines()
    # The missed V3 keeps its (make_visit default) date and its status.
    assert "sub-TOR0002\tses-V3\t2025-09-11\tmissed" in visits
    umn = (root / "phenotype/umn.tsv").read_text().splitlines()
    assert umn[0].split("\t")[2:] == list(bundle.scales.UMN_ITEMS)
    assert umn[1].split("\t")[2] == "1"  # EDM0001 V1 jaw jerk present
    pls = next(line for line in umn if line.startswith("sub-EDM0003"))
    assert pls.split("\t")[2] == "n/a"
    anat = root / "sub-EDM0001" / "ses-V1" / "anat"
    assert sorted(p.name for p in anat.iterdir()) == [
        "sub-EDM0001_ses-V1_acq-swi_T2starw.json",
        "sub-EDM0001_ses-V1_acq-swi_T2starw.nii.gz",
    ]
    swi = anat / "sub-EDM0001_ses-V1_acq-swi_T2starw.nii.gz"
    assert bundle.file_sha256(swi) == study["swi"].sha256
    labels = root / "derivatives/labels/sub-EDM0001/ses-V1/anat"
    assert sorted(p.name for p in labels.iterdir()) == [
        "sub-EDM0001_ses-V1_desc-aparcaseg_dseg.nii.gz"
    ]
    assert (root / "sub-EDM0001/sub-EDM0001_sessions.tsv").read_text().splitlines() == [
        "session_id\tacq_time\tstatus",
        *(
            f"ses-{v.visit_code}\t{v.date.isoformat()}T00:00:00\t{v.status}"
            for v in Visit.objects.filter(subject=study["als"]).order_by("visit_code")
        ),
    ]
    # The phantom's label map: the FreeSurfer names of exactly the labels it uses.
    lut = (root / bundle.LABELS_TABLE).read_text().splitlines()
    assert lut[0] == "index\tname"
    assert "1024\tctx-lh-precentral" in lut and "2017\tctx-rh-paracentral" in lut
    assert "2\tLeft-Cerebral-White-Matter" in lut and "24\tCSF" in lut
    description = json.loads((root / "derivatives/labels/dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["GeneratedBy"]
    band_rows = (root / "derivatives/motorband/band.tsv").read_text().splitlines()
    assert band_rows[0].split("\t") == list(bundle.BAND_COLUMNS)
    assert len(band_rows) == 1 + study["run"].measurements.count() > 1
    assert f"\t{band.ALGORITHM_VERSION}\t" in band_rows[1]
    reads = (root / "phenotype/reads.tsv").read_text().splitlines()
    assert reads[1:] == [
        "sub-EDM0001\tses-V1\trater_one\t1\t2\t2\tgraded\tn/a\tn/a",
        "sub-EDM0001\tses-V1\trater_two\t1\t1\t2\tgraded\tn/a\tn/a",
    ]
    assert bundle.layout_problems(root) == []
    # No free text in the bundle.
    assert "Elm St" not in "".join(p.read_text() for p in root.rglob("*.tsv"))


def test_phenotype_dictionaries_describe_every_column(study: Any, tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    umn = json.loads((root / "phenotype/umn.json").read_text())
    assert umn["jaw_jerk"]["Levels"] == {"0": "absent", "1": "present"}
    participants = json.loads((root / "participants.json").read_text())
    assert participants["site"]["Levels"] == {"EDM": "Edmonton", "TOR": "Toronto"}
    assert participants["group"]["Levels"]["ALS"] == "Amyotrophic lateral sclerosis"
    alsfrs = json.loads((root / "phenotype/alsfrsr.json").read_text())
    assert set(alsfrs) == {*bundle.ALSFRS_COLUMNS, *bundle.ALSFRS_CODE_COLUMNS}
    band_sidecar = json.loads((root / "derivatives/motorband/band.json").read_text())
    assert band_sidecar["hemisphere"]["Levels"] == {"L": "left", "R": "right"}
    assert set(band_sidecar) == set(bundle.BAND_COLUMNS)


def test_python_bids_validator_accepts_every_file(study: Any, tmp_path: Path) -> None:
    """The Python bids-validator's file-name rules on every file, images and derivatives
    included; only the validator's own control files (.bidsignore) are not BIDS data."""
    from bids_validator import BIDSValidator

    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    check = BIDSValidator()
    rejected = [
        relative
        for relative in ("/" + p.relative_to(root).as_posix() for p in sorted(root.rglob("*")))
        if (root / relative[1:]).is_file()
        and Path(relative).name != bundle.BIDSIGNORE
        and not check.is_bids(relative)
    ]
    assert rejected == []


def test_round_trip_gives_byte_identical_tsvs(study: dict[str, Any], tmp_path: Path) -> None:
    from cohort import services as cohort_services
    from imaging.reading import read_import

    # A non-diagnostic read travels too (outcome and reason; no grades).
    third = cohort_services.study_user_save(username="rater_three", role="rater", sites=[])
    read_import(
        user=None,
        scan=Scan.objects.get(kind="swi"),
        rater=third,
        left_grade=None,
        right_grade=None,
        confidence=None,
        outcome="non_diagnostic",
        non_diagnostic_reason="other",
        non_diagnostic_detail="dental braces",
    )
    first, second = tmp_path / "first", tmp_path / "second"
    bundle.export_bundle(first)
    before = {
        "subjects": Subject.objects.count(),
        "visits": Visit.objects.count(),
        "reads": Read.objects.count(),
        "scans": Scan.objects.count(),
    }
    _wipe_study()
    call_command("import_study", str(first), "--no-progress")
    after = {
        "subjects": Subject.objects.count(),
        "visits": Visit.objects.count(),
        "reads": Read.objects.count(),
        "scans": Scan.objects.count(),
    }
    assert after == before
    imported = Read.objects.get(rater__username="rater_three")
    assert (imported.outcome, imported.non_diagnostic_detail) == ("non_diagnostic", "dental braces")
    assert Site.objects.get(code="TOR").name == "Toronto"
    swi = Scan.objects.get(kind="swi")
    assert (swi.field_strength, swi.manufacturer, swi.scanner_model) == (3.0, "Siemens", "Prisma")
    bundle.export_bundle(second)
    assert _tsvs(first) == _tsvs(second)
    # participants, 5 phenotype tables, 3 sessions files, the label look-up table
    assert len(_tsvs(first)) == 10
    images = sorted(p.relative_to(first) for p in first.rglob("*.nii.gz"))
    assert images == sorted(p.relative_to(second) for p in second.rglob("*.nii.gz"))
    assert len(images) == 2
    for image in images:
        assert (first / image).read_bytes() == (second / image).read_bytes()


def test_import_creates_inactive_raters_and_missing_sites(study: Any, tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    _wipe_study()
    from django.contrib.auth import get_user_model

    result = bundle.import_bundle(root)
    assert result.ok, result.problems
    rater = get_user_model().objects.get(username="rater_two")
    assert not rater.is_active
    assert rater.groups.get().name == "rater"
    assert result.counts["raters"] == 2
    assert result.counts["sites"] == 2


def _edit_cell(path: Path, row_prefix: str, column: str, value: str) -> int:
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith(row_prefix):
            cells = line.split("\t")
            cells[header.index(column)] = value
            lines[number - 1] = "\t".join(cells)
            path.write_text("\n".join(lines) + "\n")
            return number
    raise AssertionError(f"no row starting {row_prefix!r} in {path}")


BROKEN_CELLS = [
    ("participants.tsv", "sub-TOR0002", "group", "HEALTHY", "not a valid choice"),
    ("phenotype/umn.tsv", "sub-EDM0001\tses-V2", "left_lower_babinski", "2", "between 0 and 1"),
    ("phenotype/umn.tsv", "sub-TOR0002\tses-V1", "session_id", "ses-V9", "Unknown session"),
    ("phenotype/alsfrsr.tsv", "sub-EDM0001\tses-V3", "q7", "5", "between 0 and 4"),
    ("phenotype/visits.tsv", "sub-EDM0001\tses-V2", "date", "2025-13-40", "ISO date"),
    ("phenotype/events.tsv", "sub-EDM0001\tdeath", "kind", "dead", "not a valid choice"),
    (
        "phenotype/reads.tsv",
        "sub-EDM0001\tses-V1\trater_one",
        "left_grade",
        "3",
        "A grade is 0 (no band)",
    ),
    (
        "sub-EDM0001/sub-EDM0001_sessions.tsv",
        "ses-V2",
        "acq_time",
        "1999-01-01T00:00:00",
        "Differs from the session's date in phenotype/visits.tsv",
    ),
    (
        "sub-TOR0002/sub-TOR0002_sessions.tsv",
        "ses-V3",
        "status",
        "completed",
        "Differs from the session's status",
    ),
    ("sub-EDM0003/sub-EDM0003_sessions.tsv", "ses-V1", "acq_time", "soon", "BIDS date-time"),
    ("sub-EDM0003/sub-EDM0003_sessions.tsv", "ses-V2", "session_id", "ses-V7", "Unknown session"),
]


def _populated_bundle(study: Any, tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    _wipe_study()
    return root


@pytest.mark.parametrize(("file", "row", "column", "value", "rule"), BROKEN_CELLS)
def test_one_broken_cell_rejects_the_whole_bundle(
    study: Any,
    tmp_path: Path,
    media_root: Path,
    file: str,
    row: str,
    column: str,
    value: str,
    rule: str,
) -> None:
    root = _populated_bundle(study, tmp_path)
    line = _edit_cell(root / file, row, column, value)
    counts, files = table_counts(), media_files(media_root)
    result = bundle.import_bundle(root)
    assert not result.ok
    assert any(
        p.file == file
        and p.row == line
        and p.column == column
        and p.value == value
        and rule in p.rule
        for p in result.problems
    ), result.problems
    assert table_counts() == counts
    assert media_files(media_root) == files


def test_unreadable_image_rejects_the_bundle_and_removes_stored_images(
    study: Any, tmp_path: Path, media_root: Path
) -> None:
    root = _populated_bundle(study, tmp_path)
    labels = (
        root
        / "derivatives/labels/sub-EDM0001/ses-V1/anat/sub-EDM0001_ses-V1_desc-aparcaseg_dseg.nii.gz"
    )
    labels.write_bytes(b"\x1f\x8b not a gzip nifti at all")
    counts, files = table_counts(), media_files(media_root)
    result = bundle.import_bundle(root)
    problems = [p for p in result.problems if p.file == labels.relative_to(root).as_posix()]
    assert problems and problems[0].column == "file"
    assert problems[0].value == labels.name
    # The SWI of the same session was stored before the label map failed: it must be gone.
    assert table_counts() == counts
    assert media_files(media_root) == files


def test_command_prints_the_report_and_exits_non_zero(study: Any, tmp_path: Path) -> None:
    import io

    root = _populated_bundle(study, tmp_path)
    line = _edit_cell(root / "participants.tsv", "sub-EDM0003", "group", "XYZ")
    out = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_study", str(root), "--no-progress", stdout=out)
    report = out.getvalue().splitlines()
    assert report[0] == "file\trow\tcolumn\tvalue\trule"
    assert any(r.startswith(f"participants.tsv\t{line}\tgroup\tXYZ\t") for r in report)


def test_dry_run_writes_nothing(study: Any, tmp_path: Path, media_root: Path) -> None:
    root = _populated_bundle(study, tmp_path)
    counts, files = table_counts(), media_files(media_root)
    out = __import__("io").StringIO()
    call_command("import_study", str(root), "--dry-run", "--no-progress", stdout=out)
    assert "Dry run" in out.getvalue()
    assert table_counts() == counts
    assert media_files(media_root) == files


def test_missing_column_and_unknown_participant_are_reported(study: Any, tmp_path: Path) -> None:
    root = _populated_bundle(study, tmp_path)
    events = root / "phenotype/events.tsv"
    events.write_text(events.read_text() + "sub-NOBODY\tniv\t2025-05-01\n")
    alsfrs = root / "phenotype/alsfrsr.tsv"
    rows = [line.split("\t") for line in alsfrs.read_text().splitlines()]
    drop = rows[0].index("q5_gastrostomy")
    alsfrs.write_text("\n".join("\t".join(r[:drop] + r[drop + 1 :]) for r in rows) + "\n")
    result = bundle.import_bundle(root)
    assert any(
        p.file == "phenotype/alsfrsr.tsv" and p.row == 1 and p.column == "q5_gastrostomy"
        for p in result.problems
    )
    assert any(p.column == "participant_id" and p.value == "sub-NOBODY" for p in result.problems)


def _to_layout_1(root: Path) -> None:
    """Rewrite a layout 2 bundle as contract version 1 wrote it: _swi and _dseg images in the
    raw anat folders, no sessions files, no derivatives/labels, no .bidsignore."""
    for path in sorted(root.glob("sub-*/ses-*/anat/*_acq-swi_T2starw.*")):
        path.rename(path.with_name(path.name.replace("_acq-swi_T2starw", "_swi")))
    labels = root / bundle.LABELS_DIR
    for path in sorted(labels.glob("sub-*/ses-*/anat/*_desc-aparcaseg_dseg.nii.gz")):
        target = root / path.relative_to(labels)
        shutil.move(path, target.with_name(target.name.replace("_desc-aparcaseg_dseg", "_dseg")))
    shutil.rmtree(labels)
    for path in (*root.glob("sub-*/sub-*_sessions.tsv"), root / "sessions.json"):
        path.unlink()
    (root / bundle.BIDSIGNORE).unlink()
    description = json.loads((root / bundle.DESCRIPTION).read_text())
    bundle.write_json(root / bundle.DESCRIPTION, {**description, "BIDSVersion": "1.9.0"})


def test_a_version_1_bundle_still_imports(study: dict[str, Any], tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    bundle.export_bundle(first)
    scans = dict(Scan.objects.values_list("kind", "sha256"))
    reads = Read.objects.count()
    _wipe_study()
    _to_layout_1(first)
    assert sorted(p.name for p in (first / "sub-EDM0001/ses-V1/anat").iterdir()) == [
        "sub-EDM0001_ses-V1_dseg.nii.gz",
        "sub-EDM0001_ses-V1_swi.json",
        "sub-EDM0001_ses-V1_swi.nii.gz",
    ]
    result = bundle.import_bundle(first)
    assert result.ok, result.problems
    assert dict(Scan.objects.values_list("kind", "sha256")) == scans
    assert Read.objects.count() == reads == 2
    swi = Scan.objects.get(kind="swi")
    assert (swi.field_strength, swi.manufacturer, swi.scanner_model) == (3.0, "Siemens", "Prisma")
    # Exported again, it is a layout 2 bundle.
    bundle.export_bundle(second)
    assert bundle.layout_problems(second) == []
    assert (second / "sub-EDM0001/ses-V1/anat/sub-EDM0001_ses-V1_acq-swi_T2starw.nii.gz").is_file()


def test_a_label_map_in_both_layouts_is_refused(study: Any, tmp_path: Path) -> None:
    root = _populated_bundle(study, tmp_path)
    derived = (
        root
        / "derivatives/labels/sub-EDM0001/ses-V1/anat/sub-EDM0001_ses-V1_desc-aparcaseg_dseg.nii.gz"
    )
    shutil.copy(derived, root / "sub-EDM0001/ses-V1/anat/sub-EDM0001_ses-V1_dseg.nii.gz")
    result = bundle.import_bundle(root)
    assert not result.ok
    assert any(
        p.file.endswith("_dseg.nii.gz") and p.column in ("file", "kind") for p in result.problems
    ), result.problems


def test_images_with_other_names_are_reported(study: Any, tmp_path: Path) -> None:
    root = _populated_bundle(study, tmp_path)
    anat = root / "sub-EDM0001/ses-V1/anat"
    shutil.move(
        anat / "sub-EDM0001_ses-V1_acq-swi_T2starw.nii.gz", anat / "sub-EDM0001_ses-V1_T2w.nii.gz"
    )
    result = bundle.import_bundle(root)
    assert [(p.file, p.column, p.value) for p in result.problems if p.column == "file"] == [
        (
            "sub-EDM0001/ses-V1/anat/sub-EDM0001_ses-V1_T2w.nii.gz",
            "file",
            "sub-EDM0001_ses-V1_T2w.nii.gz",
        )
    ]


def test_export_refuses_a_non_empty_folder(study: Any, tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(CommandError, match="not empty"):
        call_command("export_study", str(tmp_path), "--no-progress")


def test_layout_checks_catch_misnamed_images(study: Any, tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    anat = root / "sub-EDM0001/ses-V1/anat"
    shutil.move(
        anat / "sub-EDM0001_ses-V1_acq-swi_T2starw.nii.gz", anat / "sub-EDM0001_V1_T2starw.nii.gz"
    )
    problems = bundle.layout_problems(root)
    assert any("sub-EDM0001_V1_T2starw.nii.gz" in p for p in problems)
    # The sidecar lost its image, and a version 1 name is no longer written.
    assert any("sub-EDM0001_ses-V1_acq-swi_T2starw.json" in p for p in problems)
    shutil.move(anat / "sub-EDM0001_V1_T2starw.nii.gz", anat / "sub-EDM0001_ses-V1_swi.nii.gz")
    assert any("sub-EDM0001_ses-V1_swi.nii.gz" in p for p in bundle.layout_problems(root))
