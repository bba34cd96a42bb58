"""A visit list request costs a fixed, known number of queries, whatever the rows and the page:
the token, the token sweep, the role, (a coordinator's sites,) the count and the rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_subject, make_visit

pytestmark = pytest.mark.django_db

#: Queries of one list request: token (with its user), role, count, rows; a coordinator's site
#: memberships come on top (core.api.authentication does not sweep the user's other tokens).
QUERIES = {"investigator": 4, "data_manager": 4, "assessor": 4, "coordinator": 5}


def _add_subjects(sites: dict[str, Any], first: int, last: int) -> None:
    for number in range(first, last):
        for site in sites.values():
            subject = make_subject(site=site, study_id=f"{site.code}-{number:04d}")
            make_visit(subject, "V1")
            make_visit(subject, "V2")


def _list(client: Any, **params: Any) -> tuple[list[str], Any]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/visits/", params)
    assert response.status_code == 200, response.content
    return [query["sql"] for query in captured.captured_queries], response.json()


@pytest.mark.parametrize("role", list(QUERIES))
def test_a_list_request_costs_the_same_queries_at_any_size(
    api: Any, users: Any, sites: dict[str, Any], role: str
) -> None:
    client = api(role)
    _add_subjects(sites, 0, 2)
    few, body = _list(client, page_size=500)
    assert body["count"] == (4 if role == "coordinator" else 8)
    _add_subjects(sites, 2, 30)
    many, body = _list(client, page_size=500)
    paged, second = _list(client, page_size=7, page=2)
    filtered, _ = _list(client, site="EDM", visit_code="V2")
    assert len(body["results"]) == body["count"] == (60 if role == "coordinator" else 120)
    assert len(second["results"]) == 7
    assert len(few) == len(many) == len(paged) == len(filtered) == QUERIES[role], many


def test_the_count_of_an_all_sites_reader_reads_the_visits_alone(
    api: Any, users: Any, sites: dict[str, Any]
) -> None:
    """The shown study id needs the subject; counting the visits does not."""
    _add_subjects(sites, 0, 3)
    queries, body = _list(api("investigator"), page_size=500)
    counts = [sql for sql in queries if "COUNT(" in sql.upper()]
    assert len(counts) == 1 and "cohort_subject" not in counts[0], counts
    assert body["count"] == 12
    # A coordinator's count still follows the subject to its site: the scope is never dropped.
    queries, body = _list(api("coordinator"), page_size=500)
    counts = [sql for sql in queries if "COUNT(" in sql.upper()]
    assert len(counts) == 1 and "site_id" in counts[0], counts
    assert body["count"] == 6
    assert {row["subject"][:3] for row in body["results"]} == {"EDM"}
