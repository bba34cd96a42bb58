"""Figures from small frames and answers whose content is known by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import plots
from analysis.stats import diagnostic, survival


def strict(figure):
    """The figure is strict JSON (no NaN) and a Plotly figure dict."""
    json.dumps(figure, allow_nan=False)
    assert set(figure) >= {"data", "layout"}
    return figure


@pytest.fixture
def frame():
    rows = []
    for index, group in enumerate(["ALS"] * 3 + ["CONTROL"] * 3):
        for number, code in enumerate(["V1", "V2", "V3"]):
            rows.append(
                {
                    "subject": f"S{index}",
                    "site": "EDM" if index % 2 else "TOR",
                    "group": group,
                    "visit_code": code,
                    "months": 4.0 * number,
                    "umn_total": (index + number * 2) if group == "ALS" else 1.0,
                    "contralateral_umn_L": index,
                    "contralateral_umn_R": number,
                    "band_contrast_L": 0.1 * index,
                    "band_contrast_R": np.nan if index == 0 else 0.05,
                    "band_contrast": 0.1,
                    "scanner": "A",
                }
            )
    return pd.DataFrame(rows)


def test_spaghetti_has_subject_lines_and_group_means_with_ci(frame):
    figure = strict(plots.spaghetti(frame, outcome="umn_total", by="group"))
    names = [trace["name"] for trace in figure["data"]]
    assert names == [
        "ALS: subjects",
        "ALS: mean (95% CI)",
        "CONTROL: subjects",
        "CONTROL: mean (95% CI)",
    ]
    als_mean = figure["data"][1]
    assert als_mean["y"] == [1.0, 3.0, 5.0]  # mean of 0, 1, 2 then +2 per visit
    means = plots.spaghetti_data(frame, outcome="umn_total", by="group")
    als = means[(means["level"] == "ALS") & (means["visit_code"] == "V1")].iloc[0]
    # t interval of (0, 1, 2): mean 1, sd 1, n 3.
    assert als["ci_high"] - 1 == pytest.approx(4.302652729749464 / np.sqrt(3))
    # Subjects are separated by gaps so one trace holds a whole level.
    assert figure["data"][0]["x"][:4] == [0.0, 4.0, 8.0, None]


def test_kaplan_meier_figure_has_curves_bands_and_numbers_at_risk():
    tte = pd.DataFrame(
        {
            "months": [1.0, 2.0, 3.0, 5.0, 9.0, 2.0, 6.0, 7.0, 8.0, 10.0],
            "observed": [True, True, False, True, False, False, True, False, False, False],
            "group": ["ALS"] * 5 + ["PLS"] * 5,
        }
    )
    km = survival.kaplan_meier(tte, by="group")
    figure = strict(plots.kaplan_meier_figure(km, event="death"))
    assert len(figure["data"]) == 6  # band + curve per level, then a row of numbers per level
    assert figure["data"][1]["line"]["shape"] == "hv"
    table = plots.at_risk_table(km, [0, 4, 8])
    assert table == [
        {"level": "ALS", "months": [0, 4, 8], "n": [5, 2, 1]},
        {"level": "PLS", "months": [0, 4, 8], "n": [5, 4, 2]},
    ]
    assert figure["data"][4]["text"] == ["5", "2", "1"]


def test_forest_plot_on_a_log_axis():
    terms = [
        {
            "term": "group: PLS vs ALS",
            "hazard_ratio": 0.5,
            "ci_low": 0.2,
            "ci_high": 1.25,
            "p": 0.1,
        },
        {"term": "age", "hazard_ratio": 1.1, "ci_low": None, "ci_high": None, "p": None},
    ]
    figure = strict(plots.forest(terms))
    trace = figure["data"][0]
    assert trace["x"] == [0.5, 1.1] and trace["y"] == ["group: PLS vs ALS", "age"]
    assert trace["error_x"]["array"][0] == pytest.approx(0.75)
    assert trace["error_x"]["arrayminus"][0] == pytest.approx(0.3)
    assert figure["layout"]["xaxis"]["type"] == "log"


def test_roc_curve_from_diagnostic_accuracy():
    data = pd.DataFrame(
        {
            "group": ["ALS"] * 4 + ["CONTROL"] * 4,
            "band": [0.4, 0.3, 0.2, 0.05, 0.1, 0.0, 0.01, 0.02],
        }
    )
    result = diagnostic.diagnostic_accuracy(
        data,
        marker="band",
        group_col="group",
        positive_groups=["ALS"],
        negative_groups=["CONTROL"],
        continuous=True,
    )
    figure = strict(plots.roc(result))
    curve, point, chance = figure["data"]
    assert curve["x"] == result["roc"]["fpr"] and curve["y"] == result["roc"]["tpr"]
    assert "AUC 0.94" in curve["name"]
    assert point["y"] == [result["sensitivity"]["estimate"]]
    assert chance["x"] == [0, 1]


def test_band_umn_scatter_per_hemisphere(frame):
    figure = strict(plots.band_umn_scatter(frame))
    assert len(figure["data"]) == 4  # 2 groups × 2 hemispheres
    left_als = figure["data"][0]
    assert left_als["xaxis"] == "x" and left_als["x"] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    right_als = figure["data"][2]
    assert right_als["xaxis"] == "x2" and len(right_als["x"]) == 6  # S0's right is missing
    data = plots.band_umn_data(frame)
    assert set(data["hemisphere"]) == {"L", "R"} and data["band_contrast"].notna().all()


def test_harmonization_boxes_before_and_after(frame):
    after = frame.assign(band_contrast=0.2)
    figure = strict(plots.harmonization_boxes(frame, after))
    assert [t["type"] for t in figure["data"]] == ["box"] * 4
    assert [t["name"] for t in figure["data"]] == ["EDM", "TOR", "EDM", "TOR"]
    assert figure["data"][2]["y"] == [0.2] * 9 and figure["data"][2]["xaxis"] == "x2"


def test_subject_timeline_marks_events(frame):
    events = pd.DataFrame({"kind": ["niv"], "date": [pd.Timestamp("2025-06-01")], "months": [5.0]})
    rows = frame[frame["subject"] == "S1"].assign(alsfrs_total=[40, 38, 35])
    figure = strict(plots.subject_timeline(rows, events))
    names = [t["name"] for t in figure["data"]]
    assert names[:4] == [
        "UMN total",
        "ALSFRS-R total",
        "Band contrast, left hemisphere",
        "Band contrast, right hemisphere",
    ]
    assert figure["data"][4]["text"] == ["niv"]
    assert any(shape.get("x0") == 5.0 for shape in figure["layout"]["shapes"])
