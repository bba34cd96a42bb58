"""ALSFRS-R missing-data codes in the exports: trial tables and dictionary, REDCap (ND/UNK as the
field's value, round trip), SDTM QS (QSSTAT NOT DONE with QSREASND, QSALL for a form not done)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.management import call_command

from analysis.exports import redcap, trial
from cohort import services
from cohort.models import AlsfrsR, Visit
from tests.analysis.exports.test_redcap import _export as redcap_export
from tests.analysis.exports.test_redcap import _import as redcap_import
from tests.analysis.exports.test_redcap import _row, _wipe_clinical_data
from tests.analysis.exports.test_redcap_rules import redcap_problems
from tests.factories import alsfrs_items

pytestmark = pytest.mark.django_db

REASON = "Subject refused the questionnaire"


@pytest.fixture
def coded(study: dict[str, Any]) -> dict[str, Any]:
    """The ALS subject's V2 with item 8 not done and item 3 unknown; the PLS subject's V1 form
    not done."""
    v2 = Visit.objects.get(subject__study_id="EDM-0001", visit_code="V2")
    form = AlsfrsR.objects.get(visit=v2)
    services.alsfrs_save(
        user=None,
        visit=v2,
        items=alsfrs_items(
            q1=2, q5=2, q3=None, q3_missing="unknown", q8=None, q8_missing="not_done"
        ),
        expected_version=form.version,
        reason="walking test not done",
    )
    v1 = Visit.objects.get(subject__study_id="EDM_0003", visit_code="V1")
    form = AlsfrsR.objects.get(visit=v1)
    services.alsfrs_save(
        user=None,
        visit=v1,
        items={
            **dict.fromkeys(["q1", "q2", "q3", "q4", "q5", "q6"]),
            **dict.fromkeys(["q7", "q8", "q9", "q10", "q11", "q12"]),
            "q5_gastrostomy": False,
            "form_status": "not_done",
            "not_done_reason": REASON,
        },
        expected_version=form.version,
        reason="form not done",
    )
    return study


def test_trial_tables_carry_the_codes_and_their_dictionary(coded: Any) -> None:
    tables = trial.trial_tables()
    long = tables.long.set_index(["subject", "visit_code"])
    v2 = long.loc[("EDM-0001", "V2")]
    assert v2["q8_missing"] == "not_done" and v2["q3_missing"] == "unknown"
    assert pd.isna(v2["q8"]) and pd.isna(v2["alsfrs_total"]) and pd.isna(v2["alsfrs_gross_motor"])
    assert v2["alsfrs_bulbar"] is None or pd.isna(v2["alsfrs_bulbar"])  # item 3 unknown
    assert v2["alsfrs_fine_motor"] == 10 and v2["alsfrs_form_status"] == "done"
    pls = long.loc[("EDM_0003", "V1")]
    assert pls["alsfrs_form_status"] == "not_done" and pls["alsfrs_not_done_reason"] == REASON
    assert pd.isna(pls["alsfrs_total"])
    wide = tables.wide.set_index("subject")
    assert wide.loc["EDM-0001", "q8_missing_V2"] == "not_done"
    described = tables.dictionary.set_index("variable")
    assert described.loc["q8_missing", "allowed_values"] == (
        "not_done, Not done (ND) | unknown, Unknown (UNK)"
    )
    assert (
        described.loc["alsfrs_form_status", "allowed_values"] == "done, Done | not_done, Not done"
    )
    assert "not done, unknown or not entered" in described.loc["alsfrs_total", "derivation"]


def test_a_deidentified_trial_table_drops_the_free_text_reason(coded: Any) -> None:
    tables = trial.trial_tables(deidentify=True, key=b"test key")
    assert "alsfrs_not_done_reason" not in tables.long.columns
    assert "alsfrs_form_status" in tables.long.columns
    assert set(tables.long["q8_missing"].dropna()) == {"not_done"}


def test_redcap_export_writes_missing_data_codes_and_the_form_status(
    coded: Any, tmp_path: Path
) -> None:
    folder = redcap_export(tmp_path / "redcap")
    row = _row(folder, "EDM-0001", "v2_arm_1")
    assert (row["alsfrs_q8"], row["alsfrs_q3"], row["alsfrs_q1"]) == ("ND", "UNK", "2")
    assert row["alsfrs_form_status"] == "done" and row["alsfrs_not_done_reason"] == ""
    pls = _row(folder, "EDM_0003", "v1_arm_1")
    assert pls["alsfrs_form_status"] == "not_done" and pls["alsfrs_not_done_reason"] == REASON
    assert pls["alsfrs_r_complete"] == "2" and pls["alsfrs_q1"] == ""
    with (folder / "dictionary.csv").open(encoding="utf-8", newline="") as handle:
        fields = {f["Variable / Field Name"]: f for f in csv.DictReader(handle)}
    status = fields["alsfrs_form_status"]
    assert status["Field Type"] == "radio" and status["Form Name"] == "alsfrs_r"
    assert status["Choices, Calculations, OR Slider Labels"] == "done, Done | not_done, Not done"
    assert fields["alsfrs_not_done_reason"]["Identifier?"] == "y"
    assert "Missing data codes: ND (not done), UNK (unknown)." in fields["alsfrs_q8"]["Field Note"]
    assert redcap.MISSING_DATA_CODES == {"ND": "Not done", "UNK": "Unknown"}
    # REDCap accepts a project's missing data code in any field; the generic judge of these
    # tests does not know the project setting, so the codes are all it may object to.
    problems = redcap_problems(folder)
    assert problems and all(
        "not a raw code" in p and ("value 'ND'" in p or "value 'UNK'" in p) for p in problems
    )


def test_redcap_round_trip_keeps_the_codes_and_the_form_not_done(
    coded: Any, tmp_path: Path
) -> None:
    first = redcap_export(tmp_path / "first")
    _wipe_clinical_data()
    redcap_import(first)
    v2 = AlsfrsR.objects.get(visit__subject__study_id="EDM-0001", visit__visit_code="V2")
    assert (v2.q8, v2.q8_missing, v2.q3, v2.q3_missing) == (None, "not_done", None, "unknown")
    assert v2.total is None and v2.q1 == 2
    pls = AlsfrsR.objects.get(visit__subject__study_id="EDM_0003", visit__visit_code="V1")
    assert pls.form_status == "not_done" and pls.not_done_reason == REASON
    second = redcap_export(tmp_path / "second")
    assert _row(second, "EDM-0001", "v2_arm_1")["alsfrs_q8"] == "ND"


def test_redcap_import_refuses_a_missing_data_code_outside_the_alsfrs_items(
    coded: Any, tmp_path: Path, capsys: Any
) -> None:
    folder = redcap_export(tmp_path / "redcap")
    path = folder / "data.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    header = list(rows[0])
    for row in rows:
        if row["record_id"] == "EDM-0001" and row["redcap_event_name"] == "v1_arm_1":
            row["visit_status"] = "ND"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    _wipe_clinical_data()
    with pytest.raises(Exception):  # noqa: B017 - the command's refusal, whatever its class
        redcap_import(folder)
    assert not AlsfrsR.objects.exists()


def _sdtm(folder: Path) -> dict[str, pd.DataFrame]:
    call_command("export_study", str(folder), "--format", "sdtm", "--no-progress")
    return {
        path.stem: pd.read_csv(path, dtype=str, keep_default_na=False)
        for path in sorted(folder.glob("*.csv"))
    }


def test_sdtm_qs_says_why_an_item_or_a_form_was_not_done(coded: Any, tmp_path: Path) -> None:
    files = _sdtm(tmp_path / "sdtm")
    qs, dm = files["qs"], files["dm"].set_index("ARMCD")
    assert "QSREASND" in qs.columns
    als = qs[qs["USUBJID"] == dm.loc["ALS", "USUBJID"]].set_index(["VISITNUM", "QSTESTCD"])
    walking = als.loc[("2", "ALSR08")]
    assert (walking["QSSTAT"], walking["QSREASND"], walking["QSORRES"]) == (
        "NOT DONE",
        "NOT DONE",
        "",
    )
    assert als.loc[("2", "ALSR03"), "QSREASND"] == "UNKNOWN"
    assert als.loc[("2", "ALSR01"), "QSREASND"] == "" and als.loc[("2", "ALSR01"), "QSSTAT"] == ""
    assert ("2", "ALSRTOT") not in als.index and ("2", "ALSRGROS") not in als.index
    assert als.loc[("2", "ALSRFINE"), "QSSTRESN"] == "10"
    pls = qs[(qs["USUBJID"] == dm.loc["PLS", "USUBJID"]) & (qs["QSCAT"] == "ALSFRS-R")]
    assert list(pls["QSTESTCD"]) == ["QSALL"]
    record = pls.iloc[0]
    assert (record["QSSTAT"], record["QSREASND"], record["QSTEST"]) == (
        "NOT DONE",
        "FREE-TEXT REASON NOT EXPORTED",
        "Questionnaire",
    )
    # No free text leaves the study in SDTM files: the coordinator's words stay at the site.
    text = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "sdtm").glob("*.csv"))
    assert REASON not in text
    define = files["define"].set_index(["dataset", "variable"])
    assert "QSALL = Questionnaire" in define.loc[("QS", "QSTESTCD"), "codelist"]
    assert ("QS", "QSREASND") in define.index
