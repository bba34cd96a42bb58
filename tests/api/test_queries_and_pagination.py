"""List answers cost a constant number of queries, and pages are capped at 500 rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cohort import services
from tests.api.conftest import API, build_site_world

pytestmark = pytest.mark.django_db

LISTS = ["subjects/", "visits/", "umn-exams/", "alsfrs/", "events/", "sites/"]


def _queries(client: Any, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, {"page_size": 500})
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_list_query_count_does_not_grow_with_rows(api: Any, sites: Any, role: str) -> None:
    client = api(role)
    for n in range(5):
        build_site_world(sites["EDM"], f"EDM-{n:04d}")
    few = {path: _queries(client, f"{API}{path}") for path in LISTS}
    counts = {path: client.get(f"{API}{path}").json()["count"] for path in LISTS}
    assert counts["subjects/"] == 5 and counts["visits/"] == 10

    for n in range(5, 50):
        build_site_world(sites["EDM"], f"EDM-{n:04d}")
    many = {path: _queries(client, f"{API}{path}") for path in LISTS}
    assert client.get(f"{API}subjects/").json()["count"] == 50
    assert many == few
    assert max(many.values()) <= 6  # auth token, role, sites, count, rows


def test_page_size_is_capped_at_500(api: Any, users: Any) -> None:
    for n in range(501):
        services.site_create(user=None, code=f"S{n:03d}", name=f"Site {n}")
    client = api("admin")
    total = 501 + 2  # plus EDM and TOR
    default = client.get(f"{API}sites/").json()
    assert default["count"] == total and len(default["results"]) == 50

    capped = client.get(f"{API}sites/", {"page_size": 1000}).json()
    assert len(capped["results"]) == 500
    assert capped["next"] is not None and capped["previous"] is None
    last = client.get(f"{API}sites/", {"page_size": 1000, "page": 2}).json()
    assert len(last["results"]) == total - 500


def test_filters_of_the_contract(api: Any, sites: Any) -> None:
    edm = build_site_world(sites["EDM"], "EDM-0001")
    tor = build_site_world(sites["TOR"], "TOR-0001")
    client = api("investigator")

    def ids(path: str, **params: Any) -> list[Any]:
        response = client.get(f"{API}{path}", params)
        assert response.status_code == 200, response.content
        return [r.get("id") for r in response.json()["results"]]

    assert ids("subjects/", site="TOR") == [tor.subject.pk]
    assert ids("subjects/", group="ALS", study_id="EDM-0001") == [edm.subject.pk]
    assert ids("visits/", subject="EDM-0001", visit_code="V2") == [edm.v2.pk]
    assert ids("visits/", site="TOR") == [tor.v1.pk, tor.v2.pk]
    assert ids("umn-exams/", subject="TOR-0001") == [tor.umn.pk]
    assert ids("umn-exams/", visit=edm.v1.pk) == [edm.umn.pk]
    assert ids("alsfrs/", visit=tor.v1.pk) == [tor.alsfrs.pk]
    assert ids("events/", subject="EDM-0001", kind="niv") == [edm.event.pk]
    assert ids("events/", kind="death") == []
    bad = client.get(f"{API}subjects/", {"group": "NOPE"})
    assert bad.status_code == 400 and list(bad.json()) == ["group"]
    # A coordinator filtering on another site's records simply finds nothing.
    assert api("coordinator").get(f"{API}visits/", {"site": "TOR"}).json()["count"] == 0
