"""Query fixtures: one small clinical world per site (EDM, TOR) and a query opened on each."""

from __future__ import annotations

from typing import Any

import pytest

from cohort.models import Site
from queries import services
from queries.models import DataQuery
from tests.api.conftest import SiteWorld, build_site_world


@pytest.fixture
def world(sites: dict[str, Site]) -> dict[str, SiteWorld]:
    return {code: build_site_world(site, f"{code}-0001") for code, site in sites.items()}


def open_on_visit(user: Any, world: SiteWorld, field: str = "date", **extra: Any) -> DataQuery:
    return services.query_open(
        user=user,
        record_type="visit",
        record_id=world.v2.pk,
        field=field,
        message=extra.pop("message", "The V2 date differs from the source document: check it."),
        **extra,
    )


@pytest.fixture
def edm_query(users: dict[str, Any], world: dict[str, SiteWorld]) -> DataQuery:
    return open_on_visit(users["data_manager"], world["EDM"])


@pytest.fixture
def tor_query(users: dict[str, Any], world: dict[str, SiteWorld]) -> DataQuery:
    return open_on_visit(users["data_manager"], world["TOR"])
