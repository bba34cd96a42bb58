"""Spreadsheet injection: text cells that read as formulas come out neutralized (a leading quote) in
the trial dataset's XLSX and CSV, the analysis pages' CSV and the access log's CSV; numbers stay
numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openpyxl
import pandas as pd
import pytest
from django.core.management import call_command
from django.test import RequestFactory

from analysis import views
from analysis.exports import cells
from cohort import services
from cohort.models import Visit
from core.access import record_access
from core.models import AccessAction
from imaging.models import Measurement, Scan

pytestmark = pytest.mark.django_db

COMMENT = '=HYPERLINK("http://x","y")'
SCANNER = "@SUM(1)"
NEGATIVE = -0.05


@pytest.fixture
def hostile(study: dict[str, Any], users: dict[str, Any]) -> dict[str, Any]:
    """The EDM coordinator's visit comment is a formula, the scanner's name another, and the
    band contrast of the measured visit is negative."""
    visit = Visit.objects.get(subject=study["als"], visit_code="V1")
    services.visit_update(
        visit, user=users["coordinator"], data={"comment": COMMENT}, reason="test"
    )
    Scan.objects.filter(pk=study["swi"].pk).update(manufacturer=SCANNER, scanner_model="")
    Measurement.objects.filter(run=study["run"]).update(band_contrast=NEGATIVE)
    return study


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("", ""),
        (-1.5, -1.5),
        (-3, -3),
        (None, None),
    ],
)
def test_neutralize_quotes_formula_text_only(value: Any, expected: Any) -> None:
    assert cells.neutralize(value) == expected


def test_xlsx_cells_are_text_and_numbers_stay_numbers(hostile: Any, tmp_path: Path) -> None:
    call_command("export_study", str(tmp_path / "out"), "--format", "xlsx", "--no-progress")
    sheet = openpyxl.load_workbook(tmp_path / "out" / "long.xlsx").active
    rows = sheet.iter_rows()
    header = [cell.value for cell in next(rows)]
    row = next(
        r
        for r in rows
        if r[header.index("subject")].value == "EDM-0001"
        and r[header.index("visit_code")].value == "V1"
    )
    comment = row[header.index("visit_comment")]
    assert (comment.value, comment.data_type) == ("'" + COMMENT, "s")
    scanner = row[header.index("scanner")]
    assert (scanner.value, scanner.data_type) == ("'" + SCANNER, "s")
    contrast = row[header.index("band_contrast_L")]
    assert contrast.data_type == "n" and contrast.value == pytest.approx(NEGATIVE)
    # No cell anywhere is a formula.
    book = openpyxl.load_workbook(tmp_path / "out" / "long.xlsx")
    assert not [c for ws in book for r in ws.iter_rows() for c in r if c.data_type == "f"]
    # Dates are still dates, not text.
    assert row[header.index("visit_date")].is_date


def test_csv_cells_are_neutralized_and_numbers_stay_numbers(hostile: Any, tmp_path: Path) -> None:
    call_command("export_study", str(tmp_path / "out"), "--format", "csv", "--no-progress")
    rows = list(csv.DictReader((tmp_path / "out" / "long.csv").open(encoding="utf-8")))
    row = next(r for r in rows if r["subject"] == "EDM-0001" and r["visit_code"] == "V1")
    assert row["visit_comment"] == "'" + COMMENT
    assert row["scanner"] == "'" + SCANNER
    assert float(row["band_contrast_L"]) == pytest.approx(NEGATIVE)
    wide = list(csv.DictReader((tmp_path / "out" / "wide.csv").open(encoding="utf-8")))
    edm = next(r for r in wide if r["subject"] == "EDM-0001")
    assert edm["visit_comment_V1"] == "'" + COMMENT
    assert float(edm["band_contrast_L_V1"]) == pytest.approx(NEGATIVE)


def test_the_analysis_pages_csv_is_neutralized(users: dict[str, Any]) -> None:
    request = RequestFactory().get("/analysis/progression/", {"format": "csv"})
    request.user = users["investigator"]
    data = pd.DataFrame(
        {"subject": ["EDM-0001", "EDM-0002"], "scanner": [SCANNER, "GE"], "slope": [-0.5, 1.0]}
    )
    response = views._csv(request, SimpleNamespace(data=data), "progression")  # type: ignore[arg-type]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["scanner"] for r in rows] == ["'" + SCANNER, "GE"]
    assert [r["slope"] for r in rows] == ["-0.5", "1.0"]


def test_the_access_log_csv_neutralizes_what_was_typed_at_login(tmp_path: Path) -> None:
    record_access(None, AccessAction.LOGIN_FAILED, username=COMMENT)
    target = tmp_path / "access.csv"
    call_command("export_access_log", str(target), stdout=io.StringIO(), stderr=io.StringIO())
    (row,) = list(csv.DictReader(target.open(encoding="utf-8")))
    assert (row["username"], row["action"]) == ("'" + COMMENT, "login_failed")
