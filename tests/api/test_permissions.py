"""Permission matrix: every endpoint × every role × an EDM and a TOR record, with 0 leaks.

The coordinator belongs to EDM and coord_tor to TOR (see tests/conftest.py). A record outside the
caller's sites must answer exactly like a record that does not exist (404, same body), and never
appear in a list; a role that may not touch a resource type at all gets 403 for any id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from cohort.models import Site
from tests.api.conftest import API, SiteWorld, build_site_world
from tests.factories import ENROLLED, alsfrs_items, subject_fields, umn_items

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "coordinator", "coord_tor", "rater", "investigator", "data_manager", "admin"]
ACTIONS = ["list", "retrieve", "history", "update", "create", "delete"]
TARGETS = ["EDM", "TOR"]


def _row(*codes: int) -> dict[str, int]:
    return dict(zip(ACTIONS, codes, strict=True))


# Expected status per role, target site and action (list, retrieve, history, update, create, delete).
ALL = _row(200, 200, 200, 200, 201, 204)
READ_ONLY = _row(200, 200, 200, 403, 403, 403)
OUT_OF_SCOPE = _row(
    200, 404, 404, 404, 400, 404
)  # create: the other site's parent "does not exist"
ANONYMOUS = _row(*[401] * 6)
FORBIDDEN = _row(*[403] * 6)

CLINICAL_EXPECTED = {
    "anonymous": {"EDM": ANONYMOUS, "TOR": ANONYMOUS},
    "coordinator": {"EDM": ALL, "TOR": OUT_OF_SCOPE},
    "coord_tor": {"EDM": OUT_OF_SCOPE, "TOR": ALL},
    "rater": {"EDM": FORBIDDEN, "TOR": FORBIDDEN},
    "investigator": {"EDM": READ_ONLY, "TOR": READ_ONLY},
    "data_manager": {"EDM": ALL, "TOR": ALL},
    "admin": {"EDM": ALL, "TOR": ALL},
}
# Sites: clinical roles read (coordinators their own), only admins write; for a role that may not
# write sites at all, even another site's code answers 403 (so 403 tells nothing about existence).
SITE_OWN_READ_ONLY = _row(200, 200, 200, 403, 403, 403)
SITE_OTHER = _row(200, 404, 404, 403, 403, 403)
SITES_EXPECTED = {
    "anonymous": {"EDM": ANONYMOUS, "TOR": ANONYMOUS},
    "coordinator": {"EDM": SITE_OWN_READ_ONLY, "TOR": SITE_OTHER},
    "coord_tor": {"EDM": SITE_OTHER, "TOR": SITE_OWN_READ_ONLY},
    "rater": {"EDM": FORBIDDEN, "TOR": FORBIDDEN},
    "investigator": {"EDM": READ_ONLY, "TOR": READ_ONLY},
    "data_manager": {"EDM": READ_ONLY, "TOR": READ_ONLY},
    "admin": {"EDM": ALL, "TOR": ALL},
}


class Endpoint:
    """How to reach one resource's record of a site, change it, and create a new one there."""

    def __init__(
        self,
        path: str,
        record: Callable[[SiteWorld], Any],
        key: Callable[[Any], Any],
        update: dict[str, Any],
        create: Callable[[SiteWorld], dict[str, Any]],
        missing_key: Any = 999_999,
    ) -> None:
        self.path, self.record, self.key = path, record, key
        self.update, self.create, self.missing_key = update, create, missing_key


def _pk(record: Any) -> Any:
    return record.pk


ENDPOINTS = {
    "sites": Endpoint(
        "sites",
        lambda w: w.site,
        lambda site: site.code,
        {"name": "Renamed site"},
        lambda w: {"code": f"N{w.site.code}", "name": "New site"},
        missing_key="NOPE",
    ),
    "subjects": Endpoint(
        "subjects",
        lambda w: w.subject,
        _pk,
        {"handedness": "L"},
        lambda w: {
            **{k: str(v) for k, v in subject_fields().items() if k != "site"},
            "site": w.site.code,
            "study_id": f"{w.site.code}-0777",
        },
    ),
    "visits": Endpoint(
        "visits",
        lambda w: w.v2,
        _pk,
        {"date": str(ENROLLED + dt.timedelta(days=125))},
        lambda w: {
            "subject": w.subject.study_id,
            "visit_code": "V3",
            "date": str(ENROLLED + dt.timedelta(days=244)),
            "status": "completed",
        },
    ),
    "umn-exams": Endpoint(
        "umn-exams",
        lambda w: w.umn,
        _pk,
        {"jaw_jerk": 0},
        lambda w: {"visit": w.v2.pk, **umn_items(3)},
    ),
    "alsfrs": Endpoint(
        "alsfrs",
        lambda w: w.alsfrs,
        _pk,
        {"q1": 3},
        lambda w: {"visit": w.v2.pk, **alsfrs_items(q2=3)},
    ),
    "events": Endpoint(
        "events",
        lambda w: w.event,
        _pk,
        {"date": str(ENROLLED + dt.timedelta(days=31))},
        lambda w: {
            "subject": w.subject.study_id,
            "kind": "gastrostomy",
            "date": str(ENROLLED + dt.timedelta(days=60)),
        },
    ),
}


def _call(client: APIClient, action: str, endpoint: Endpoint, world: SiteWorld) -> Any:
    base = f"{API}{endpoint.path}/"
    detail = f"{base}{endpoint.key(endpoint.record(world))}/"
    # A reason on every write, so the completed-visit rule does not mask the permission outcome.
    headers = {"HTTP_X_CHANGE_REASON": "permission matrix"}
    if action == "list":
        return client.get(base)
    if action == "retrieve":
        return client.get(detail)
    if action == "history":
        return client.get(f"{detail}history/")
    if action == "update":
        return client.patch(detail, endpoint.update, format="json", **headers)
    if action == "create":
        return client.post(base, endpoint.create(world), format="json", **headers)
    return client.delete(detail, **headers)


def _missing_answer(client: APIClient, action: str, endpoint: Endpoint) -> tuple[int, Any]:
    """How the API answers the same action on a record that does not exist at all."""
    detail = f"{API}{endpoint.path}/{endpoint.missing_key}/"
    response = {
        "retrieve": lambda: client.get(detail),
        "history": lambda: client.get(f"{detail}history/"),
        "update": lambda: client.patch(detail, endpoint.update, format="json"),
        "delete": lambda: client.delete(detail),
    }[action]()
    return response.status_code, response.json()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_permission_matrix(name: str, role: str, api: Callable, sites: dict[str, Site]) -> None:
    endpoint = ENDPOINTS[name]
    expected = (SITES_EXPECTED if name == "sites" else CLINICAL_EXPECTED)[role]
    # Sites can only be deleted while empty: the sites endpoint gets worlds without subjects.
    if name == "sites":
        worlds = {code: SiteWorld(site, *[None] * 6) for code, site in sites.items()}  # type: ignore[arg-type]
    else:
        worlds = {code: build_site_world(site, f"{code}-0001") for code, site in sites.items()}
    client = api(None if role == "anonymous" else role)

    mismatches, leaks = [], []
    for target in TARGETS:
        world = worlds[target]
        for action in ACTIONS:
            response = _call(client, action, endpoint, world)
            want = expected[target][action]
            if response.status_code != want:
                body = response.content[:300]
                mismatches.append(f"{target} {action}: {response.status_code} != {want} {body!r}")
                continue
            if action == "list" and want == 200:
                visible = {
                    str(item.get("id", item.get("code"))) for item in response.json()["results"]
                }
                key = str(endpoint.key(endpoint.record(world)))
                should_see = expected[target]["retrieve"] == 200
                if (key in visible) != should_see:
                    leaks.append(f"{target} list: record {key} visible={key in visible}")
            # A 404 must be indistinguishable from a missing record's: same status, same body.
            if want == 404 and _missing_answer(client, action, endpoint) != (404, response.json()):
                leaks.append(f"{target} {action}: 404 differs from a missing record's")
            if action == "create" and want == 400:
                # The other site's parent (site, subject or visit) reads as "does not exist".
                messages = " ".join(str(m) for m in response.json().values())
                if "does not exist" not in messages and "Invalid pk" not in messages:
                    leaks.append(f"{target} create: {response.json()}")
    assert mismatches == []
    assert leaks == [], "leaks"


def test_coordinator_cannot_move_a_subject_to_another_site(api: Callable, sites: Any) -> None:
    world = build_site_world(sites["EDM"], "EDM-0001")
    response = api("coordinator").patch(
        f"{API}subjects/{world.subject.pk}/", {"site": "TOR"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["site"]
    world.subject.refresh_from_db()
    assert world.subject.site.code == "EDM"


def test_coordinator_cannot_create_at_another_site(api: Callable, sites: Any) -> None:
    payload = ENDPOINTS["subjects"].create(SiteWorld(sites["TOR"], *[None] * 6))  # type: ignore[arg-type]
    response = api("coordinator").post(f"{API}subjects/", payload, format="json")
    assert response.status_code == 400
    assert response.json() == {"site": ["Object with code=TOR does not exist."]}
