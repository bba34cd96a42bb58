"""The queries/ endpoint as the contract names it: fields, filters, scoping (another site's query
is a 404), the workflow's POST actions, PATCH, versions and the audit trail."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from queries import services
from queries.models import DataQuery, QueryStatus
from tests.api.conftest import API, build_site_world
from tests.queries.conftest import open_on_visit

pytestmark = pytest.mark.django_db

URL = f"{API}queries/"
CONTRACT_FIELDS = {
    "id",
    "record_type",
    "record_id",
    "field",
    "message",
    "status",
    "answer",
    "opened_by",
    "opened_at",
    "closed_at",
}


def _open(client, world, **overrides):
    body = {
        "record_type": "visit",
        "record_id": world["EDM"].v2.pk,
        "field": "date",
        "message": "The V2 date differs from the MRI date: check it.",
        **overrides,
    }
    return client.post(URL, body, format="json")


def test_a_data_manager_opens_a_query(api, world):
    response = _open(api("data_manager"), world)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= CONTRACT_FIELDS
    assert body["status"] == "open" and body["answer"] == ""
    assert body["opened_by"] == "data_manager" and body["closed_at"] is None
    assert body["site"] == "EDM" and body["subject"] == "EDM-0001"
    assert body["auto"] is False and body["check"] == ""
    assert response["ETag"] == '"1"'


@pytest.mark.parametrize(("role", "code"), [("coordinator", 403), ("investigator", 403)])
def test_other_roles_cannot_open(api, world, role, code):
    assert _open(api(role), world).status_code == code
    assert not DataQuery.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"field": "days_from_baseline"}, "field"),
        ({"record_id": 999999}, "record_id"),
        ({"record_type": "diagnosis"}, "record_type"),
        ({"message": ""}, "message"),
        ({"status": "closed"}, "status"),
        ({"answer": "premature"}, "status"),
    ],
)
def test_invalid_queries_answer_400_by_field(api, world, overrides, field):
    response = _open(api("data_manager"), world, **overrides)
    assert response.status_code == 400 and field in response.json(), response.json()


@pytest.mark.parametrize(("role", "code"), [("rater", 403), ("assessor", 403), (None, 401)])
def test_raters_assessors_and_anonymous_read_none(api, edm_query, role, code):
    client = api(role)
    assert client.get(URL).status_code == code
    assert client.get(f"{URL}{edm_query.pk}/").status_code == code


def test_another_sites_query_is_not_found(api, edm_query, tor_query):
    client = api("coordinator")
    listed = client.get(URL).json()
    assert [q["id"] for q in listed["results"]] == [edm_query.pk]
    missing = client.get(f"{URL}999999/")
    other = client.get(f"{URL}{tor_query.pk}/")
    assert other.status_code == 404 and other.json() == missing.json()
    for step, body in (("answer", {"answer": "x"}), ("close", {"reason": "x"})):
        assert client.post(f"{URL}{tor_query.pk}/{step}/", body, format="json").status_code == 404
    assert client.get(f"{URL}{tor_query.pk}/history/").status_code == 404


def test_filters_status_site_and_record_type(api, users, world, edm_query, tor_query):
    services.query_answer(tor_query, user=users["coord_tor"], answer="Corrected.")
    alsfrs = services.query_open(
        user=users["admin"],
        record_type="alsfrs",
        record_id=world["EDM"].alsfrs.pk,
        field="q3",
        message="Swallowing 4 with a gastrostomy?",
    )
    client = api("data_manager")

    def ids(**params):
        response = client.get(URL, params)
        assert response.status_code == 200
        return {q["id"] for q in response.json()["results"]}

    assert ids() == {edm_query.pk, tor_query.pk, alsfrs.pk}
    assert ids(status="open") == {edm_query.pk, alsfrs.pk}
    assert ids(status="answered") == {tor_query.pk}
    assert ids(site="TOR") == {tor_query.pk}
    assert ids(site="XYZ") == set()
    assert ids(record_type="alsfrs") == {alsfrs.pk}
    assert ids(record_type="visit", site="EDM") == {edm_query.pk}
    assert client.get(URL, {"status": "pending"}).status_code == 400


def test_the_workflow_through_the_actions(api, edm_query):
    url = f"{URL}{edm_query.pk}/"
    coordinator, dm = api("coordinator"), api("data_manager")
    assert coordinator.post(f"{url}close/", {"reason": "x"}, format="json").status_code == 403
    empty = coordinator.post(f"{url}answer/", {"answer": ""}, format="json")
    assert empty.status_code == 400 and "answer" in empty.json()
    answered = coordinator.post(f"{url}answer/", {"answer": "Corrected to 2025-05-12."})
    assert answered.status_code == 200, answered.json()
    assert answered.json()["status"] == "answered" and answered["ETag"] == '"2"'
    reopened = dm.post(f"{url}reopen/", {"message": "The MRI says 05-14."}, format="json")
    assert reopened.json()["status"] == "open" and reopened.json()["answer"] == ""
    coordinator.post(f"{url}answer/", {"answer": "Right: corrected."}, format="json")
    closed = dm.post(f"{url}close/", {}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["closed_at"] is not None
    history = dm.get(f"{url}history/").json()
    assert [h["reason"] for h in history] == [
        "answer accepted",
        "query answered",
        "query reopened",
        "query answered",
        "query opened",
    ]
    assert history[-1]["user"] == "data_manager" and history[1]["user"] == "coordinator"


def test_an_unanswered_query_closes_with_a_reason(api, edm_query):
    url = f"{URL}{edm_query.pk}/close/"
    client = api("data_manager")
    refused = client.post(url, {}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()
    closed = client.post(url, {}, format="json", HTTP_X_CHANGE_REASON="Raised in error.")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_stale_versions_are_refused(api, users, edm_query):
    services.query_answer(edm_query, user=users["coordinator"], answer="Corrected.")
    client = api("data_manager")
    url = f"{URL}{edm_query.pk}/close/"
    stale = client.post(url, {"version": 1}, format="json")
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    assert client.post(url, {}, format="json", HTTP_IF_MATCH='"1"').status_code == 412
    assert client.post(url, {}, format="json", HTTP_IF_MATCH='"2"').status_code == 200


def test_patch_is_a_step_of_the_workflow(api, edm_query):
    url = f"{URL}{edm_query.pk}/"
    coordinator, dm = api("coordinator"), api("data_manager")
    fixed = dm.patch(url, {"record_id": 1}, format="json")
    assert fixed.status_code == 400 and "record_id" in fixed.json()
    reworded = dm.patch(url, {"message": "Check the V2 date."}, format="json")
    assert reworded.status_code == 200 and reworded.json()["message"] == "Check the V2 date."
    answered = coordinator.patch(url, {"answer": "Corrected."}, format="json")
    assert answered.json()["status"] == "answered"
    closed = dm.patch(url, {"status": "closed", "version": 3}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["version"] == 4
    assert dm.put(url, {}, format="json").status_code == 405
    assert dm.delete(url).status_code == 405
    assert DataQuery.objects.get().status == QueryStatus.CLOSED


def test_investigators_read_but_take_no_step(api, edm_query):
    client = api("investigator")
    assert client.get(f"{URL}{edm_query.pk}/").status_code == 200
    assert (
        client.post(f"{URL}{edm_query.pk}/answer/", {"answer": "x"}, format="json").status_code
        == 403
    )


def test_the_schema_documents_the_endpoint(api):
    schema = api("admin").get("/api/schema/", {"format": "json"}).json()
    for path in ("queries/", "queries/{id}/", "queries/{id}/answer/", "queries/{id}/close/"):
        assert f"/api/v1/{path}" in schema["paths"]
    reopen = schema["paths"]["/api/v1/queries/{id}/reopen/"]["post"]
    assert {"200", "400", "404", "409"} <= set(reopen["responses"])
    params = {p["name"] for p in schema["paths"]["/api/v1/queries/"]["get"]["parameters"]}
    assert {"status", "site", "record_type"} <= params


def test_the_list_and_its_page_cost_a_constant_number_of_queries(api, users, sites):
    client = api("coordinator")
    web = Client()
    web.force_login(users["coordinator"])

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as listed:
            assert client.get(URL, {"page_size": 500}).status_code == 200
        with CaptureQueriesContext(connection) as page:
            assert web.get("/queries/").status_code == 200
        return len(listed), len(page)

    for n in range(20):
        if n == 3:
            few = count()
        open_on_visit(users["data_manager"], build_site_world(sites["EDM"], f"EDM-{n:04d}"))
    assert client.get(URL).json()["count"] == 20
    assert count() == few
