"""Schemathesis over the queries/ operations alone (tests/api/test_schemathesis.py runs every
operation): no 5xx, and every answer conforms to the published schema, with real queries in
every state behind the detail paths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from queries import services
from tests.api.test_schemathesis import (  # noqa: F401  (admin_headers, live_schema: fixtures)
    CHECKS,
    HYPOTHESIS,
    _cases,
    admin_headers,
    live_schema,
)
from tests.queries.conftest import open_on_visit

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def existing_keys(users: dict[str, Any], world: Any) -> dict[str, list[Any]]:
    edm, tor = world["EDM"], world["TOR"]
    opened = open_on_visit(users["data_manager"], edm)
    answered = open_on_visit(users["admin"], tor)
    services.query_answer(answered, user=users["coord_tor"], answer="Corrected.")
    closed = open_on_visit(users["admin"], edm, field="status")
    services.query_close(closed, user=users["admin"], reason="Raised in error.")
    auto = services.run_checks(None)[0]
    return {"queries": [opened.pk, answered.pk, closed.pk, auto.pk]}


def test_the_queries_api_conforms_to_its_schema(
    live_schema: Any,  # noqa: F811
    existing_keys: dict[str, list[Any]],
    admin_headers: dict[str, str],  # noqa: F811
) -> None:
    operations = [
        operation
        for operation in (result.ok() for result in live_schema.get_all_operations())
        if operation.path.startswith("/api/v1/queries/")
    ]
    assert len(operations) >= 7
    failures: dict[str, str] = {}
    for operation in operations:

        @HYPOTHESIS
        @given(case=_cases(operation, existing_keys))
        def run(case: Any) -> None:
            case.call_and_validate(headers=admin_headers, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = str(exc)[:2000]
    assert failures == {}
