"""ALSFRS-R missing-data codes and forms not done travel through the study bundle (no loss)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from analysis.exports import bundle
from cohort import services
from cohort.models import AlsfrsR, Visit
from tests.analysis.exports.test_bundle import _wipe_study
from tests.factories import alsfrs_items

pytestmark = pytest.mark.django_db


def _coded(study: dict[str, Any]) -> None:
    v2 = Visit.objects.get(subject__study_id="EDM-0001", visit_code="V2")
    items = alsfrs_items()
    items.update(q8=None, q8_missing="not_done", q11=None, q11_missing="unknown")
    services.alsfrs_save(user=None, visit=v2, items=items, reason="item not assessed")
    v1 = Visit.objects.get(subject__study_id="TOR-0002", visit_code="V1")
    services.alsfrs_save(
        user=None,
        visit=v1,
        items={"form_status": "not_done", "not_done_reason": "Subject too tired"},
    )


def _forms() -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (f.visit.subject.study_id, f.visit.visit_code): (
            f.q8,
            f.q8_missing,
            f.q11_missing,
            f.form_status,
            f.not_done_reason,
            f.total,
        )
        for f in AlsfrsR.objects.select_related("visit__subject")
    }


def test_codes_and_forms_not_done_round_trip(study: dict[str, Any], tmp_path: Path) -> None:
    _coded(study)
    before = _forms()
    assert before[("EDM-0001", "V2")] == (None, "not_done", "unknown", "done", "", None)
    assert before[("TOR-0002", "V1")][3:] == ("not_done", "Subject too tired", None)
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    with (root / bundle.ALSFRS).open(encoding="utf-8") as handle:
        header = next(csv.reader(handle, delimiter="\t"))
    assert {"q8_missing", "alsfrs_form_status", "alsfrs_not_done_reason"} <= set(header)
    sidecar = (root / bundle.ALSFRS.replace(".tsv", ".json")).read_text(encoding="utf-8")
    assert "alsfrs_form_status" in sidecar and "q8_missing" in sidecar
    _wipe_study()
    call_command("import_study", str(root), "--no-progress")
    assert _forms() == before


def test_a_bundle_of_scores_only_still_imports(study: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    path = root / bundle.ALSFRS
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    keep = [i for i, name in enumerate(rows[0]) if name in bundle.ALSFRS_COLUMNS]
    path.write_text(
        "".join("\t".join(row[i] for i in keep) + "\n" for row in rows), encoding="utf-8"
    )
    count = AlsfrsR.objects.count()
    _wipe_study()
    call_command("import_study", str(root), "--no-progress")
    assert AlsfrsR.objects.count() == count
    assert set(AlsfrsR.objects.values_list("form_status", flat=True)) == {"done"}


def test_a_bad_code_is_a_problem_named_by_its_column(study: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    path = root / bundle.ALSFRS
    text = path.read_text(encoding="utf-8").splitlines()
    header = text[0].split("\t")
    first = text[1].split("\t")
    first[header.index("q3_missing")] = "lost"
    text[1] = "\t".join(first)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    _wipe_study()
    result = bundle.import_bundle(root)
    assert result.problems
    assert any(p.column == "q3_missing" for p in result.problems), result.problems
