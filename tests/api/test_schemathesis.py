"""Property-based run of the live OpenAPI schema: no 5xx, every answer conforms to the schema.

Schemathesis loads /api/schema/ from the WSGI app with an admin token and, for every operation,
Hypothesis generates valid and invalid requests (a few hundred in total, bounded by
``MAX_EXAMPLES_PER_OPERATION``) over a small study, so ids in paths sometimes hit real records.
The operations are driven from one test with schemathesis's Python API (its lazy pytest loader,
``schemathesis.pytest.from_fixture``, does not run under pytest 9).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from knox.models import AuthToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from motorband.wsgi import application
from tests.api.conftest import build_site_world

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MAX_EXAMPLES_PER_OPERATION = 10

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES_PER_OPERATION,
    phases=[Phase.generate],  # no explicit/coverage phase: it would not respect the bound
    deadline=None,
    database=None,
    derandomize=True,  # the same requests on every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def admin_headers(users: dict[str, Any]) -> dict[str, str]:
    _, key = AuthToken.objects.create(user=users["admin"])
    return {"Authorization": f"Token {key}"}


@pytest.fixture
def existing_keys(sites: Any) -> dict[str, list[Any]]:
    """Keys of real records per resource path, so that detail requests also hit records."""
    worlds = [
        build_site_world(site, f"{code}-{n:04d}") for code, site in sites.items() for n in (1, 2, 3)
    ]
    return {
        "sites": list(sites),
        "subjects": [w.subject.pk for w in worlds],
        "visits": [v.pk for w in worlds for v in (w.v1, w.v2)],
        "umn-exams": [w.umn.pk for w in worlds],
        "alsfrs": [w.alsfrs.pk for w in worlds],
        "events": [w.event.pk for w in worlds],
    }


@pytest.fixture
def live_schema(existing_keys: Any, admin_headers: dict[str, str]) -> Iterator[Any]:
    # As Django's own test client does: the test's transaction holds the connection open, so the
    # per-request "close old connections" hooks must not close it under the WSGI app's feet.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application, headers=admin_headers)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _cases(operation: Any, existing_keys: dict[str, list[Any]]) -> st.SearchStrategy:
    """Valid and invalid requests; detail paths also with the keys of real records."""
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    resource = operation.path.removeprefix("/api/v1/").split("/")[0]
    names = [p.name for p in operation.path_parameters]
    if names and resource in existing_keys:
        for key in existing_keys[resource]:
            strategies.append(
                operation.as_strategy(GenerationMode.POSITIVE, path_parameters={names[0]: key})
            )
    return st.one_of(strategies)


def test_api_conforms_to_its_schema(
    live_schema: Any,
    existing_keys: dict[str, list[Any]],
    admin_headers: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    requests = 0
    failing_requests = 0
    failures: dict[str, str] = {}
    # Revoking the caller's tokens would end this run's own authentication (tests/api/test_auth.py).
    operations = [
        operation
        for operation in (result.ok() for result in live_schema.get_all_operations())
        if operation.path != "/api/v1/auth/token/revoke/"
    ]
    assert len(operations) >= 40

    for operation in operations:
        cases = _cases(operation, existing_keys)

        @HYPOTHESIS
        @given(case=cases)
        def run(case: Any) -> None:
            nonlocal requests, failing_requests
            requests += 1
            try:
                case.call_and_validate(headers=admin_headers, checks=CHECKS)
            except (Exception, BaseExceptionGroup):
                failing_requests += 1
                raise

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup is the latter
            failures[operation.label] = str(exc)[:2000]

    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"\nschemathesis: {requests} requests over {len(operations)} operations, "
            f"{failing_requests} failing requests, {len(failures)} failing operations"
        )
    assert failures == {}
    # Bounded: at most MAX_EXAMPLES per operation (a few hundred requests in all).
    assert 0 < requests <= MAX_EXAMPLES_PER_OPERATION * len(operations)
