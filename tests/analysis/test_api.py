"""The analysis API: contract answers, parameter errors, 422 on too little data, roles, schema."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from analysis import frames
from analysis.stats import diagnostic, progression, survival

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_passwords"),
]

API = "/api/v1/analysis/"


@pytest.fixture
def client_for(users):
    def make(name):
        client = APIClient()
        if name is not None:
            client.force_authenticate(users[name])
        return client

    return make


def get(client, path, **params):
    response = client.get(API + path, params)
    # Never NaN: the answer must be strict JSON.
    if response.status_code == 200:
        json.dumps(response.json(), allow_nan=False)
    return response


def test_progression_answers_the_contract_and_matches_the_model(client_for, users, cohort):
    response = get(client_for("investigator"), "progression/", outcome="umn_total", by="group")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"outcome", "by", "n_subjects", "n_observations", "slopes", "slope_difference"} <= set(
        body
    )
    assert set(body["slopes"][0]) == {"level", "slope", "ci_low", "ci_high"}
    assert set(body["slope_difference"]) == {"levels", "estimate", "ci_low", "ci_high", "p"}
    direct = progression.fit_progression(
        frames.analysis_frame(user=users["investigator"]), outcome="umn_total", by="group"
    )
    assert (body["n_subjects"], body["n_observations"]) == (12, 34)
    assert body["slopes"] == direct["slopes"]
    assert body["slope_difference"] == direct["slope_difference"]
    assert body["slope_difference"]["levels"] == ["ALS", "CONTROL"]


def test_progression_filters_and_harmonize(client_for, users, cohort):
    response = get(
        client_for("data_manager"),
        "progression/",
        outcome="band_contrast",
        by="site",
        groups="ALS",
        harmonize="true",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    frame = frames.analysis_frame(user=users["investigator"], groups=["ALS"], harmonize=True)
    direct = progression.fit_progression(frame, outcome="band_contrast", by="site")
    assert body["n_subjects"] == 6 and body["harmonized"] is True
    assert body["slopes"] == direct["slopes"]


@pytest.mark.parametrize(
    ("path", "param", "value", "choice"),
    [
        ("progression/", "outcome", "grip", "umn_total"),
        ("progression/", "by", "height", "mbs_baseline"),
        ("survival/", "event", "stroke", "death_or_tracheostomy_or_pav"),
        ("survival/", "covariates", "age,shoe_size", "delta_fs"),
        ("diagnostic/", "marker", "nfl", "mbs_read"),
        ("diagnostic/", "positive", "ALS,XYZ", "CONTROL"),
        ("progression/", "site", "XXX", "EDM"),
    ],
)
def test_unknown_choice_is_400_naming_the_choices(client_for, cohort, path, param, value, choice):
    response = get(client_for("investigator"), path, **{param: value})
    assert response.status_code == 400
    message = response.json()[param][0]
    assert "choose one of" in message and choice in message


def test_too_few_subjects_is_422(client_for, cohort):
    response = get(client_for("investigator"), "progression/", groups="ALS,PLS")
    assert response.status_code == 422
    assert "PLS" in response.json()["detail"]
    # No reads yet: the MBS analyses say so instead of failing.
    assert get(client_for("investigator"), "progression/", by="mbs_baseline").status_code == 422
    assert get(client_for("investigator"), "diagnostic/", marker="mbs_read").status_code == 422


@pytest.mark.parametrize("name", ["coordinator", "rater"])
def test_other_roles_are_refused(client_for, cohort, name):
    for path in ("progression/", "survival/", "diagnostic/", "plots/km/"):
        assert get(client_for(name), path).status_code == 403


def test_anonymous_is_401(client_for, cohort):
    assert get(client_for(None), "progression/").status_code == 401


def test_survival_answers_the_contract_and_matches_direct_calls(client_for, users, cohort):
    response = get(
        client_for("investigator"), "survival/", event="death", by="site", groups="ALS,CONTROL"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"event", "by", "groups", "logrank_p", "cox"} <= set(body)
    assert {"level", "n", "events", "median_months", "ci_low", "ci_high"} <= set(body["groups"][0])
    assert set(body["cox"][0]) == {"term", "hazard_ratio", "ci_low", "ci_high", "p"}
    tte = frames.event_frame(user=users["investigator"], event="death")
    km = survival.kaplan_meier(tte, by="site")
    assert [(g["level"], g["n"], g["events"]) for g in body["groups"]] == [
        ("EDM", 6, 1),
        ("TOR", 6, 1),
    ]
    assert body["groups"][0]["median_months"] == km[0]["median_months"]
    assert body["groups"][0]["curve"] == km[0]["curve"]
    assert body["logrank_p"] == pytest.approx(survival.logrank_p(tte, by="site"))
    cox = survival.cox(tte, covariates=["site"], categorical=["site"])
    assert body["cox"] == cox["terms"]
    assert body["cox"][0]["term"] == "site: TOR vs EDM"


def test_survival_without_events_still_answers_the_curves(client_for, cohort):
    # No event at all: the curves are flat; the test and the model are missing (with the
    # reason), never NaN nor an error.
    response = get(
        client_for("investigator"), "survival/", event="gastrostomy", groups="ALS,CONTROL"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [g["events"] for g in body["groups"]] == [0, 0]
    assert body["logrank_p"] is None and body["cox"] == []
    assert any("Cox model not estimated" in w for w in body["warnings"])


def test_survival_with_too_few_subjects_is_422(client_for, cohort):
    response = get(client_for("investigator"), "survival/", site="EDM", groups="ALS")
    assert response.status_code == 422 and "at least 5" in response.json()["detail"]


def test_survival_with_covariates(client_for, users, cohort):
    response = get(
        client_for("admin"),
        "survival/",
        event="death",
        by="site",
        covariates="age",
        groups="ALS,CONTROL",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["covariates"] == ["age"]
    tte = frames.event_frame(user=users["admin"], event="death")
    direct = survival.cox(tte, covariates=["site", "age"], categorical=["site"])
    assert [t["term"] for t in body["cox"]] == ["site: TOR vs EDM", "age"]
    assert body["cox"] == direct["terms"]


def test_diagnostic_band_contrast(client_for, users, cohort):
    response = get(client_for("investigator"), "diagnostic/", marker="band_contrast")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"marker", "groups", "sensitivity", "specificity", "fisher_p", "auc"} <= set(body)
    assert set(body["groups"][0]) == {"group", "n", "positive", "proportion", "ci_low", "ci_high"}
    assert [g["group"] for g in body["groups"]] == ["ALS", "PLS", "CONTROL"]
    frame = frames.analysis_frame(user=users["investigator"], visit_codes=["V1"])
    direct = diagnostic.diagnostic_accuracy(
        frame,
        marker="band_contrast",
        group_col="group",
        positive_groups=["ALS", "PLS"],
        negative_groups=["CONTROL"],
        continuous=True,
    )
    assert body["auc"] == pytest.approx(direct["auc"]) and body["auc"] == 1.0
    assert body["sensitivity"] == direct["sensitivity"]
    assert body["marker"] == "band_contrast" and body["visit_code"] == "V1"


def test_diagnostic_mbs_read_uses_the_consensus(client_for, users, cohort):
    from tests.analysis.conftest import add_read

    for subject in cohort["subjects"]:
        scan = subject.visits.get(visit_code="V1").scans.get(kind="swi")
        grade = 2 if subject.group == "ALS" else 0
        add_read(scan, users["rater"], grade, 0)
    response = get(client_for("investigator"), "diagnostic/", marker="mbs_read", positive="ALS")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["marker"] == "mbs_read" and body["auc"] is None
    assert body["sensitivity"]["estimate"] == 1.0 and body["specificity"]["estimate"] == 1.0
    assert body["fisher_p"] == pytest.approx(2 / 924)  # two-sided: 2 / C(12, 6)
    # mbs_baseline becomes analysable as soon as reads exist.
    response = get(client_for("investigator"), "progression/", by="mbs_baseline")
    assert response.status_code == 200, response.content
    assert response.json()["slope_difference"]["levels"] == ["negative", "positive"]


def test_diagnostic_refuses_overlapping_groups(client_for, cohort):
    response = get(client_for("investigator"), "diagnostic/", positive="ALS", negative="ALS")
    assert response.status_code == 400 and "negative" in response.json()


@pytest.mark.parametrize(
    ("name", "params", "n_traces"),
    [
        ("spaghetti", {"outcome": "umn_total"}, 4),  # subjects + mean per group
        ("km", {"event": "death", "groups": "ALS,CONTROL"}, 6),  # band + curve + at-risk per group
        ("forest", {"event": "death", "by": "site"}, 1),
        ("roc", {}, 3),  # curve, operating point, chance
        ("scatter", {}, 2),  # default: patients at V1, one group × two hemispheres
        ("scatter", {"groups": "ALS,CONTROL"}, 4),  # two groups × two hemispheres
        ("harmonization", {}, 4),  # two sites × before/after
        ("timeline", {"subject": "EDM-0001"}, 5),  # UMN, ALSFRS-R, band L/R, events
    ],
)
def test_plots_return_plotly_json(client_for, cohort, name, params, n_traces):
    response = get(client_for("investigator"), f"plots/{name}/", **params)
    assert response.status_code == 200, response.content
    figure = response.json()
    assert set(figure) >= {"data", "layout"}
    assert len(figure["data"]) == n_traces


def test_unknown_plot_or_subject_is_404(client_for, cohort):
    assert get(client_for("investigator"), "plots/pie/").status_code == 404
    response = get(client_for("investigator"), "plots/timeline/", subject="NOPE")
    assert response.status_code == 404


def test_schema_documents_the_parameters(client_for, cohort):
    response = client_for("investigator").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    operation = paths["/api/v1/analysis/progression/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"outcome", "by", "groups", "site", "visit_code", "harmonize"} <= names
    outcome = next(p for p in operation["parameters"] if p["name"] == "outcome")
    assert "band_extent" in outcome["schema"]["enum"]
    assert {"200", "400", "403", "422"} <= set(operation["responses"])
    answer = response.json()["components"]["schemas"]["ProgressionAnswer"]
    assert {"slopes", "slope_difference", "n_subjects"} <= set(answer["properties"])
    assert {"/api/v1/analysis/survival/", "/api/v1/analysis/diagnostic/"} <= set(paths)


def test_survival_answer_holds_the_time_varying_band_model(client_for, users, cohort):
    response = get(
        client_for("investigator"), "survival/", event="death", by="site", groups="ALS,CONTROL"
    )
    body = response.json()
    tte = frames.event_frame(user=users["investigator"], event="death")
    visits = frames.analysis_frame(user=users["investigator"])
    visits = visits[visits["subject"].isin(tte["subject"])].assign(
        **{"band_contrast_per_0.1": lambda d: d["band_contrast"] * 10}
    )
    long = survival.to_start_stop(
        visits[["subject", "months", "band_contrast_per_0.1"]], tte, "band_contrast_per_0.1"
    )
    direct = survival.cox_time_varying(long, covariates=["band_contrast_per_0.1"])
    assert body["cox_time_varying"] == direct["terms"]
    assert body["cox_time_varying"][0]["term"] == "band_contrast_per_0.1"


def test_survival_defaults_to_the_patients(client_for, cohort):
    """Controls cannot die of ALS: by default the answer is about the patients, and says so."""
    body = get(client_for("investigator"), "survival/", event="death").json()
    assert body["filters"]["groups"] == ["ALS", "PLS"]
    assert [(g["level"], g["n"]) for g in body["groups"]] == [("ALS", 6)]
