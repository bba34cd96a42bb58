"""Analysis answers are kept while data, scope and parameters stay the same, and only then."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pytest
from rest_framework.test import APIClient

from analysis import cache, reads, reports
from cohort import selectors, services
from cohort.models import Visit
from imaging import services as imaging_services
from imaging.models import Scan
from tests.analysis.conftest import add_read

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

API = "/api/v1/analysis/"


@pytest.fixture
def client_for(users):
    def make(name):
        client = APIClient()
        client.force_authenticate(users[name])
        return client

    return make


@pytest.fixture
def calls(monkeypatch):
    """Count the runs of the analyses (the real ones run underneath)."""
    counts: dict[str, int] = {}

    def counted(module: Any, name: str) -> None:
        real = getattr(module, name)

        @functools.wraps(real)
        def spy(*args: Any, **kwargs: Any) -> Any:
            counts[name] = counts.get(name, 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)

    for name in ("progression_report", "survival_report", "diagnostic_report", "band_umn_report"):
        counted(reports, name)
    counted(reads, "agreement_report")
    return counts


def progression(client):
    response = client.get(API + "progression/", {"outcome": "umn_total", "by": "group"})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_second_identical_request_is_not_computed_again(client_for, cohort, calls):
    client = client_for("investigator")
    first = progression(client)
    assert progression(client) == first
    assert calls["progression_report"] == 1
    # Other parameters are another answer.
    response = client.get(API + "progression/", {"outcome": "umn_total", "by": "sex"})
    assert response.status_code == 200
    assert calls["progression_report"] == 2
    # The same parameters in another order or spelling are the same answer.
    response = client.get(API + "progression/", {"by": "group", "outcome": "umn_total"})
    assert response.json() == first
    assert calls["progression_report"] == 2


def test_every_analysis_endpoint_keeps_its_answer(client_for, cohort, calls):
    client = client_for("data_manager")
    for path, params, name in (
        ("survival/", {"event": "death", "by": "group"}, "survival_report"),
        ("diagnostic/", {"marker": "band_contrast"}, "diagnostic_report"),
        ("plots/scatter/", {}, "band_umn_report"),
    ):
        first = client.get(API + path, params)
        second = client.get(API + path, params)
        assert first.status_code == second.status_code, (path, first.content)
        assert first.json() == second.json()
        assert calls[name] == 1, path
    for _ in range(2):
        assert client.get("/api/v1/agreement/").status_code == 200
    assert calls["agreement_report"] == 1


def test_a_refusal_is_kept_too(client_for, users, sites, calls):
    client = client_for("investigator")
    first = client.get(API + "progression/", {"outcome": "umn_total", "by": "group"})
    second = client.get(API + "progression/", {"outcome": "umn_total", "by": "group"})
    assert first.status_code == second.status_code == 422
    assert first.json() == second.json()
    assert calls["progression_report"] == 1


def _edit_a_visit(cohort: dict[str, Any], users: dict[str, Any]) -> None:
    visit = Visit.objects.filter(subject=cohort["subjects"][0], visit_code="V2").get()
    services.visit_update(
        visit,
        user=users["data_manager"],
        data={"date": visit.date + dt.timedelta(days=3)},
        expected_version=visit.version,
        reason="Date corrected from the source document.",
    )


def _add_a_read(cohort: dict[str, Any], users: dict[str, Any]) -> None:
    scan = Scan.objects.filter(kind="swi").order_by("pk").first()
    add_read(scan, users["rater"], 2, 1)


def _qc_a_scan(cohort: dict[str, Any], users: dict[str, Any]) -> None:
    scan = Scan.objects.filter(kind="swi").order_by("pk").first()
    imaging_services.scan_qc_set(
        scan, user=users["data_manager"], status="fail", reason="Motion across the motor cortex."
    )


def _bulk_update(cohort: dict[str, Any], users: dict[str, Any]) -> None:
    Visit.objects.filter(visit_code="V3").update(date=dt.date(2025, 6, 1))


@pytest.mark.parametrize("change", [_edit_a_visit, _add_a_read, _qc_a_scan, _bulk_update])
def test_a_data_change_makes_the_answer_be_computed_again(client_for, users, cohort, calls, change):
    client = client_for("investigator")
    progression(client)
    client.get("/api/v1/agreement/")
    change(cohort, users)
    progression(client)
    client.get("/api/v1/agreement/")
    assert calls["progression_report"] == 2
    assert calls["agreement_report"] == 2


def test_a_changed_visit_changes_the_answer(client_for, users, cohort):
    client = client_for("investigator")
    before = progression(client)
    services.umn_exam_delete(
        Visit.objects.get(subject=cohort["subjects"][1], visit_code="V3").umn_exam,
        user=users["data_manager"],
        reason="Entered on the wrong subject.",
    )
    after = progression(client)
    assert after["n_observations"] == before["n_observations"] - 1


def test_users_of_different_sites_never_share_an_answer(users, cohort):
    """Coordinators see one site each: each gets the count of their own site's subjects."""

    def count(who: str) -> int:
        return cache.answer(
            "test.subjects",
            user=users[who],
            params={},
            compute=lambda: selectors.subject_list(user=users[who]).count(),
        )

    edm, tor = count("coordinator"), count("coord_tor")
    assert (edm, tor) == (6, 6)
    assert cache.scope(users["coordinator"]) != cache.scope(users["coord_tor"])
    # Six EDM subjects vs six TOR subjects is no proof: give TOR one more and ask again.
    from tests.factories import make_subject

    make_subject(study_id="TOR-0099", site=cohort["subjects"][1].site)
    assert (count("coordinator"), count("coord_tor")) == (6, 7)


def test_a_rater_never_gets_an_investigators_answer(client_for, users, cohort, calls):
    investigator = client_for("investigator")
    progression(investigator)
    rater = client_for("rater")
    response = rater.get(API + "progression/", {"outcome": "umn_total", "by": "group"})
    assert response.status_code == 403
    assert rater.get("/api/v1/agreement/").status_code == 403
    # Below the views too: the same name and parameters under a rater's scope are another key.
    runs: list[str] = []

    def compute(who: str) -> str:
        runs.append(who)
        return who

    for who in ("investigator", "rater", "investigator", "rater"):
        answer = cache.answer(
            "test.scope", user=users[who], params={}, compute=lambda w=who: compute(w)
        )
        assert answer == who
    assert runs == ["investigator", "rater"]


def test_the_pages_keep_their_answers_too(users, cohort, calls, client):
    client.force_login(users["investigator"])
    for _ in range(2):
        response = client.get("/analysis/progression/", {"outcome": "umn_total", "by": "group"})
        assert response.status_code == 200
    assert calls["progression_report"] == 1
    for _ in range(2):
        assert client.get("/analysis/band-umn/").status_code == 200
    assert calls["band_umn_report"] == 1


def test_an_answer_changed_by_its_caller_is_not_changed_in_the_cache(users, cohort):
    def compute() -> dict[str, list[int]]:
        return {"values": [1, 2]}

    first = cache.answer("test.copy", user=users["investigator"], params={}, compute=compute)
    first["values"].append(3)
    again = cache.answer("test.copy", user=users["investigator"], params={}, compute=compute)
    assert again == {"values": [1, 2]}
