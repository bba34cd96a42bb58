"""The query pages: the list and its CSV, raising a query from a record's page, answering, closing
and reopening, and the queries on the home page and the record pages."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from core.models import AccessEvent
from queries import services
from queries.models import DataQuery, QueryStatus
from queries.views import CSV_COLUMNS
from tests.queries.conftest import open_on_visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(users):
    def client_for(name: str) -> Client:
        client = Client()
        client.force_login(users[name])
        return client

    return client_for


def test_the_list_shows_the_callers_sites_only(web, edm_query, tor_query):
    page = web("coordinator").get("/queries/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"Query {edm_query.pk}<" in text and f"Query {tor_query.pk}<" not in text
    assert "Visit EDM-0001 V2" in text and "Date (date)" in text
    assert "Run the automatic checks" not in text
    both = web("data_manager").get("/queries/").content.decode()
    assert f"Query {tor_query.pk}<" in both and "Run the automatic checks" in both


def test_the_list_filters(web, users, edm_query, tor_query):
    services.query_answer(tor_query, user=users["coord_tor"], answer="Corrected.")
    client = web("admin")
    answered = client.get("/queries/", {"status": "answered"}).content.decode()
    assert f"Query {tor_query.pk}<" in answered and f"Query {edm_query.pk}<" not in answered
    edm = client.get("/queries/", {"site": "EDM", "record_type": "visit"}).content.decode()
    assert f"Query {edm_query.pk}<" in edm and f"Query {tor_query.pk}<" not in edm
    assert "1 query" in edm


@pytest.mark.parametrize("role", ["rater", "assessor"])
def test_raters_and_assessors_see_no_query_page(web, edm_query, role):
    client = web(role)
    for url in ("/queries/", f"/queries/{edm_query.pk}/", "/queries/export.csv"):
        assert client.get(url).status_code == 403, url
    assert "Queries</a>" not in client.get("/").content.decode()


def test_the_navigation_links_the_queries_for_coordinators_and_monitors(web):
    for role in ("coordinator", "data_manager", "admin"):
        assert 'href="/queries/"' in web(role).get("/").content.decode(), role
    assert 'href="/queries/"' not in web("investigator").get("/").content.decode()


def test_the_csv_downloads_the_filtered_list(web, users, edm_query, tor_query):
    services.query_answer(edm_query, user=users["coordinator"], answer="Corrected, 2025-05-12.")
    client = web("data_manager")
    response = client.get("/queries/export.csv", {"status": "answered"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "motorband-queries.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == str(edm_query.pk) and row["status"] == "answered"
    assert (row["site"], row["subject"], row["visit"]) == ("EDM", "EDM-0001", "V2")
    assert row["record"] == "Visit EDM-0001 V2" and row["field"] == "date"
    assert row["answer"] == "Corrected, 2025-05-12." and row["opened_by"] == "data_manager"
    event = AccessEvent.objects.get(action="export")
    assert event.user == users["data_manager"] and event.detail["rows"] == 1
    coordinator = web("coord_tor").get("/queries/export.csv").content.decode()
    assert coordinator.count("\n") == 2 and ",TOR," in coordinator


def test_a_monitor_raises_a_query_from_the_visit_page(web, world):
    edm = world["EDM"]
    client = web("data_manager")
    visit_page = client.get("/subjects/EDM-0001/visits/V1/").content.decode()
    assert "Raise a query on:" in visit_page
    raise_url = f"/queries/new/?record_type=alsfrs&amp;record_id={edm.alsfrs.pk}"
    assert raise_url in visit_page
    form = client.get(f"/queries/new/?record_type=visit&record_id={edm.v1.pk}")
    assert form.status_code == 200 and "Visit EDM-0001 V1" in form.content.decode()
    url = f"/queries/new/?record_type=visit&record_id={edm.v1.pk}"
    refused = client.post(url, {"field": "date", "message": ""})
    assert refused.status_code == 400 and "Write the question" in refused.content.decode()
    response = client.post(url, {"field": "date", "message": "V1 date before consent?"})
    query = DataQuery.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/queries/{query.pk}/"
    assert (query.record_type, query.record_id, query.field) == ("visit", edm.v1.pk, "date")
    subject_page = client.get("/subjects/EDM-0001/").content.decode()
    assert "V1 date before consent?" in subject_page
    assert f"record_type=event&amp;record_id={edm.event.pk}" in subject_page


def test_the_raise_form_is_for_monitors_and_visible_records(web, world):
    url = f"/queries/new/?record_type=visit&record_id={world['EDM'].v1.pk}"
    assert web("coordinator").get(url).status_code == 403
    assert "Raise a query on:" not in web("coordinator").get("/subjects/EDM-0001/").content.decode()
    client = web("data_manager")
    assert client.get("/queries/new/?record_type=visit&record_id=999999").status_code == 404
    assert client.get("/queries/new/?record_type=nothing&record_id=1").status_code == 404
    assert client.get("/queries/new/?record_type=visit&record_id=x").status_code == 404


def test_the_coordinator_answers_and_the_author_closes_in_the_pages(web, users, world, edm_query):
    coordinator = web("coordinator")
    home = coordinator.get("/").content.decode()
    assert "Open data queries" in home and edm_query.message in home
    visit_page = coordinator.get("/subjects/EDM-0001/visits/V2/").content.decode()
    assert edm_query.message in visit_page and "Raise a query on:" not in visit_page
    detail = coordinator.get(f"/queries/{edm_query.pk}/").content.decode()
    assert 'id="answer-form"' in detail and 'id="close-form"' not in detail
    assert "Correct the value" in detail and "/subjects/EDM-0001/visits/V2/edit/" in detail
    assert web("coord_tor").get(f"/queries/{edm_query.pk}/").status_code == 404
    empty = coordinator.post(f"/queries/{edm_query.pk}/answer/", {"answer": "", "version": 1})
    assert empty.status_code == 400 and "Write the answer" in empty.content.decode()
    answered = coordinator.post(
        f"/queries/{edm_query.pk}/answer/", {"answer": "Corrected.", "version": 1}
    )
    assert answered.status_code == 302
    assert "No open query: nothing to answer." in coordinator.get("/").content.decode()

    dm = web("data_manager")
    home = dm.get("/").content.decode()
    assert "Answered queries to review" in home and "Corrected." in home
    stale = dm.post(f"/queries/{edm_query.pk}/close/", {"reason": "", "version": 1})
    assert stale.status_code == 400 and "changed by someone else" in stale.content.decode()
    closed = dm.post(f"/queries/{edm_query.pk}/close/", {"reason": "", "version": 2})
    assert closed.status_code == 302
    edm_query.refresh_from_db()
    assert edm_query.status == QueryStatus.CLOSED
    page = dm.get(f"/queries/{edm_query.pk}/").content.decode()
    assert 'id="reopen-form"' in page and 'id="close-form"' not in page
    assert "answer accepted" in page  # the trail
    reopened = dm.post(
        f"/queries/{edm_query.pk}/reopen/", {"message": "Still two dates.", "version": 3}
    )
    assert reopened.status_code == 302
    edm_query.refresh_from_db()
    assert edm_query.status == QueryStatus.OPEN and edm_query.message == "Still two dates."


def test_the_checks_run_from_the_list(web, world):
    response = web("data_manager").post("/queries/checks/")
    assert response.status_code == 302
    assert DataQuery.objects.filter(auto=True).count() == 4  # V2 of each site: no forms
    assert web("coordinator").post("/queries/checks/").status_code == 403


def test_the_csv_keeps_free_text_from_becoming_a_formula(web, users, world):
    query = open_on_visit(users["data_manager"], world["EDM"], message='=HYPERLINK("http://x","y")')
    services.query_answer(query, user=users["coordinator"], answer="-3 days: corrected.")
    text = web("data_manager").get("/queries/export.csv").content.decode()
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["message"] == '\'=HYPERLINK("http://x","y")'
    assert row["answer"] == "'-3 days: corrected."
    assert row["record_id"] == str(world["EDM"].v2.pk)


def test_the_admin_shows_queries_read_only(web, edm_query):
    client = web("admin")
    assert client.get("/admin/queries/dataquery/").status_code == 200
    change = client.get(f"/admin/queries/dataquery/{edm_query.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert client.get(f"/admin/queries/dataquery/{edm_query.pk}/history/").status_code == 200
    assert client.get("/admin/queries/dataquery/add/").status_code == 403
