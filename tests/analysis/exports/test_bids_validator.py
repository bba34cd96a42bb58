"""The official BIDS validator (bids-validator-deno) judges an exported study bundle with real images."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from analysis.exports import bundle

pytestmark = pytest.mark.django_db

VALIDATOR = "bids-validator-deno"
VALIDATOR_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def validator() -> str:
    """The validator's command; its absence fails the tests (it is in requirements-dev.txt)."""
    found = shutil.which(VALIDATOR) or shutil.which(
        VALIDATOR, path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail(
            f"The official BIDS validator '{VALIDATOR}' is not installed (pip install -r "
            "requirements-dev.txt): the study bundle cannot be judged without it."
        )
    return found


def validate(validator: str, dataset: Path, *flags: str) -> dict[str, Any]:
    """The validator's JSON report on ``dataset`` (its exit code only says whether errors exist)."""
    done = subprocess.run(
        [validator, str(dataset), "--format", "json", "--no-color", *flags],
        capture_output=True,
        text=True,
        timeout=VALIDATOR_TIMEOUT_S,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"{VALIDATOR} gave no JSON report (exit {done.returncode}): {done.stderr}")
    return report


def errors(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (issue["code"], issue.get("location", ""), issue.get("issueMessage", ""))
        for issue in report["issues"]["issues"]
        if issue["severity"] == "error"
    ]


@pytest.fixture
def exported(real_study: dict[str, Any], tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    return root


def test_validator_reports_no_error_and_counts_subjects_and_sessions(
    exported: Path, validator: str
) -> None:
    report = validate(validator, exported, "--recursive")
    assert errors(report) == []
    summary = report["summary"]
    # Every participant has a folder (its sessions file); sessions are the labels with data.
    assert sorted(summary["subjects"]) == ["EDM0001", "EDM0003", "TOR0002"]
    assert sorted(summary["sessions"]) == ["V1", "V2"]
    assert summary["dataTypes"] == ["anat"]  # the phenotype tables are in .bidsignore
    derivatives = report["derivativesSummary"]
    labels = derivatives[f"/{bundle.LABELS_DIR}/"]
    assert errors(labels) == []
    assert labels["summary"]["subjects"] == ["EDM0001"]
    assert sorted(labels["summary"]["sessions"]) == ["V1", "V2"]
    # Validator 3.0.2 prunes dot-files below the root in a recursive run, so it never reads
    # derivatives/motorband/.bidsignore: the files it names are its only complaints there.
    motorband = derivatives[f"/{bundle.MOTORBAND_DIR}/"]
    assert {(code, location) for code, location, _ in errors(motorband)} <= {
        ("NOT_INCLUDED", f"/{name}") for name in bundle.IGNORED_BAND_FILES
    }


def test_each_dataset_alone_has_no_error(exported: Path, validator: str) -> None:
    """The raw dataset as BIDS tools read it, and each derivative dataset with its .bidsignore."""
    for dataset in (exported, exported / bundle.LABELS_DIR, exported / bundle.MOTORBAND_DIR):
        assert errors(validate(validator, dataset)) == [], dataset


def test_validator_sees_the_old_layout_errors(exported: Path, validator: str) -> None:
    """The check is real: the contract version 1 names are errors to the validator."""
    anat = exported / "sub-EDM0001/ses-V2/anat"
    shutil.move(
        anat / "sub-EDM0001_ses-V2_acq-swi_T2starw.nii.gz", anat / "sub-EDM0001_ses-V2_swi.nii.gz"
    )
    (exported / bundle.BIDSIGNORE).unlink()
    found = {(code, location) for code, location, _ in errors(validate(validator, exported))}
    assert ("NOT_INCLUDED", "/sub-EDM0001/ses-V2/anat/sub-EDM0001_ses-V2_swi.nii.gz") in found
    assert ("TSV_INDEX_VALUE_NOT_UNIQUE", "/" + bundle.VISITS) in found


def test_bundle_files_carry_what_bids_recommends(
    exported: Path, real_study: dict[str, Any]
) -> None:
    description = json.loads((exported / bundle.DESCRIPTION).read_text())
    assert (description["DatasetType"], description["BIDSVersion"]) == ("raw", bundle.BIDS_VERSION)
    anat = exported / "sub-TOR0002/ses-V1/anat"
    assert sorted(p.name for p in anat.iterdir()) == [
        "sub-TOR0002_ses-V1_T1w.nii",
        "sub-TOR0002_ses-V1_acq-swi_T2starw.json",
        "sub-TOR0002_ses-V1_acq-swi_T2starw.nii",
        "sub-TOR0002_ses-V1_part-mag_T2starw.nii",
    ]
    # Read from the real DICOM series: Siemens Prisma at 3 T, echo 2 at 12.46 ms.
    swi = json.loads((anat / "sub-TOR0002_ses-V1_acq-swi_T2starw.json").read_text())
    assert swi["Manufacturer"] == "Siemens" and swi["MagneticFieldStrength"] == 3.0
    assert swi["EchoTime"] == pytest.approx(0.01246, abs=1e-5)
    pls = exported / "sub-EDM0003/ses-V1/anat"
    assert sorted(p.name for p in pls.iterdir()) == [
        "sub-EDM0003_ses-V1_Chimap.nii.gz",
        "sub-EDM0003_ses-V1_part-mag_T2starw.nii.gz",
        "sub-EDM0003_ses-V1_part-phase_T2starw.json",
        "sub-EDM0003_ses-V1_part-phase_T2starw.nii.gz",
    ]
    # The crop's phase is in arbitrary units (about +-0.0037), not radians.
    phase = json.loads((pls / "sub-EDM0003_ses-V1_part-phase_T2starw.json").read_text())
    assert phase == {"Units": "arbitrary"}
    labels = exported / bundle.LABELS_DIR
    assert json.loads((labels / bundle.DESCRIPTION).read_text())["DatasetType"] == "derivative"
    assert (
        labels / "sub-EDM0001/ses-V2/anat/sub-EDM0001_ses-V2_desc-aparcaseg_dseg.nii.gz"
    ).is_file()
    table = dict(
        line.split("\t") for line in (exported / bundle.LABELS_TABLE).read_text().splitlines()
    )
    assert table.pop("index") == "name"
    # bert's real aparc+aseg: every label it uses has its FreeSurfer name.
    assert not [name for name in table.values() if name.startswith("label-")]
    assert table["1024"] == "ctx-lh-precentral" and table["2022"] == "ctx-rh-postcentral"
    assert table["41"] == "Right-Cerebral-White-Matter" and table["17"] == "Left-Hippocampus"
    assert list(map(int, table)) == sorted(map(int, table))
    sessions = (exported / "sub-EDM0003/sub-EDM0003_sessions.tsv").read_text().splitlines()
    assert sessions[0] == "session_id\tacq_time\tstatus"
    assert re.fullmatch(r"ses-V1\t\d{4}-\d{2}-\d{2}T00:00:00\tcompleted", sessions[1])
    assert sessions[2].startswith("ses-V2\t") and sessions[2].endswith("\tscheduled")
    assert (exported / bundle.BIDSIGNORE).read_text().splitlines() == [
        f"/{name}" for name in bundle.IGNORED_PHENOTYPE_FILES
    ]


def test_bids_version_is_the_validators() -> None:
    """dataset_description.json names the BIDS version of the schema the validator ships."""
    spec = importlib.util.find_spec("bids_validator_deno")
    if spec is None or spec.origin is None:
        pytest.fail("bids-validator-deno is not installed (requirements-dev.txt).")
    source = (Path(spec.origin).parent / "bids-validator.js").read_text(encoding="utf-8")
    shipped = set(re.findall(r'\bbids_version: "([0-9.]+)"', source))
    assert shipped == {bundle.BIDS_VERSION}


def test_bundle_code_needs_no_pybids() -> None:
    """Export and import read and write plain files: no BIDS library is imported."""
    folder = Path(bundle.__file__).parent
    imported = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert not imported & {"bids", "bids_validator", "bids_validator_deno", "ancpbids"}
