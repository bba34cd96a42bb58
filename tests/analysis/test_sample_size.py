"""The sample-size planner: published worked examples through the API, defaults from the study."""

from __future__ import annotations

from typing import Any

import pytest

API = "/api/v1/analysis/sample-size/"


def test_buderer_reproduces_the_published_worked_example(api, users):
    # Hajian-Tilaki 2014 (J Biomed Inform 48:193), worked example of Buderer's method: expected
    # sensitivity 0.80, precision ±0.07, prevalence 0.10 → 126 patients, 1255 subjects.
    answer = api("investigator").get(
        API,
        {"target": "sensitivity", "expected": 0.8, "half_width": 0.07, "prevalence": 0.1},
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["n_cases"], body["n_total"]) == (126, 1255)
    assert "Buderer" in body["method"]
    assert set(body["defaults"]) == {"alpha", "design_effect"}
    clustered = (
        api("investigator")
        .get(
            API,
            {
                "target": "specificity",
                "expected": 0.8,
                "half_width": 0.07,
                "prevalence": 0.9,
                "cluster_size": 21,
                "icc": 0.05,
            },
        )
        .json()
    )
    # Design effect 1 + 20 × 0.05 = 2: twice the subjects without the condition.
    assert clustered["n_cases"] == 251
    assert clustered["defaults"]["design_effect"]["value"] == pytest.approx(2.0)


def test_schoenfeld_events_for_a_hazard_ratio_of_two(api, users):
    # (1.95996 + 0.84162)² / (0.25 × ln(2)²) = 65.3 → 66 events (Schoenfeld 1983).
    body = api("investigator").get(API, {"target": "hazard_ratio", "hr": 2, "power": 0.8}).json()
    assert body["events"] == 66
    assert body["defaults"]["proportion"]["source"] == "conventional assumption"


def test_slope_planner_takes_the_variance_components_from_the_study(api, cohort):
    client = api("investigator")
    first = client.get(API, {"target": "slope_difference", "n_sim": 400})
    assert first.status_code == 200, first.content
    body: dict[str, Any] = first.json()
    for name in ("sd_intercept", "sd_slope", "sd_residual", "difference", "visits"):
        assert name in body["defaults"], name
    assert "ALS and PLS subjects in this study" in body["defaults"]["sd_slope"]["source"]
    assert body["n_per_group"] >= 2
    assert body["power"] >= 0.8 - 3 * body["mc_error"]
    again = client.get(API, {"target": "slope_difference", "n_sim": 400}).json()
    assert again["n_per_group"] == body["n_per_group"]  # seeded: reproducible
    given = client.get(
        API,
        {
            "target": "slope_difference",
            "difference": 0.01,
            "sd_intercept": 0.02,
            "sd_slope": 0.005,
            "sd_residual": 0.01,
            "corr_intercept_slope": 0,
            "visits": 3,
            "n_sim": 400,
        },
    ).json()
    assert set(given["defaults"]) <= {"power", "alpha"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "target"),
        ({"target": "odds"}, "target"),
        ({"target": "hazard_ratio", "hr": 1}, "hr"),
        ({"target": "sensitivity", "expected": 1.5}, "expected"),
        ({"target": "slope_difference", "n_sim": 10}, "n_sim"),
    ],
)
def test_bad_parameters_are_refused_by_name(api, users, query, field):
    response = api("investigator").get(API, query)
    assert response.status_code == 400
    assert field in response.json()


def test_the_planner_needs_data_or_values_and_an_analyst(api, users):
    refused = api("investigator").get(API, {"target": "slope_difference"})
    assert refused.status_code == 422
    assert "give sd_intercept" in refused.json()["detail"]
    assert api("coordinator").get(API, {"target": "hazard_ratio"}).status_code == 403
    assert api("assessor").get(API, {"target": "hazard_ratio"}).status_code == 403


def test_the_planner_page_shows_the_answer_and_its_defaults(client, users):
    client.force_login(users["investigator"])
    page = client.get("/analysis/sample-size/", {"target": "hazard_ratio", "hr": "2"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Events needed" in text and "66" in text
    assert "conventional assumption" in text
    assert client.get("/analysis/sample-size/").status_code == 200
    bad = client.get("/analysis/sample-size/", {"target": "hazard_ratio", "hr": "1"})
    assert bad.status_code == 400
