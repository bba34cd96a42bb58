"""The fast visit and subject lists answer exactly what the serializer answers: same bytes, same
fields in the same order, same values, same count and links, for every role, filter and page."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from rest_framework import serializers

from cohort.api import views
from cohort.api.serializers import VisitSerializer
from cohort.models import Subject, Visit
from imaging.models import Scan
from tests.factories import make_subject, make_visit

pytestmark = pytest.mark.django_db

#: The visit fields of the contract (/work/shared/contract.md), in the order the API shows them.
VISIT_FIELDS = [
    "id",
    "subject",
    "visit_code",
    "date",
    "status",
    "days_from_baseline",
    "months_from_onset",
    "kings_stage",
    "kings_nutritional_failure",
    "kings_respiratory_failure",
    "mitos_stage",
    "version",
]


@pytest.fixture
def study(sites: dict[str, Any]) -> None:
    """Visits with every kind of value the list shows: dates and none, each status, floats,
    King's and MiToS stages, true, false and unknown failures, at two sites."""
    for site in sites.values():
        for number in range(3):
            control = number == 2
            subject = make_subject(
                site=site,
                study_id=f"{site.code}-{number:04d}",
                group="CONTROL" if control else "ALS",
            )
            make_visit(subject, "V1")
            make_visit(subject, "V2", status="scheduled")
            make_visit(subject, "V3", status="missed")
    Visit.objects.exclude(visit_code="V1").update(date=None)
    Visit.objects.filter(visit_code="V1", subject__study_id__endswith="0").update(
        kings_stage="4a",
        kings_nutritional_failure=True,
        kings_respiratory_failure=False,
        mitos_stage=3,
        months_from_onset=7.25,
    )
    Visit.objects.filter(visit_code="V1", subject__study_id__endswith="1").update(
        kings_stage="2", mitos_stage=0, months_from_onset=12.0, version=7
    )


def _both(client: Any, path: str, params: dict[str, Any], monkeypatch: Any) -> tuple[bytes, bytes]:
    """The list's answer as read by values, and as the plain serializer shows model instances."""
    fast = client.get(path, params)
    with monkeypatch.context() as patch:
        patch.setattr(views, "list_columns", lambda serializer: None)
        plain = client.get(path, params)
    assert fast.status_code == plain.status_code == 200, (fast.content, plain.content)
    return fast.content, plain.content


@pytest.mark.parametrize("role", ["investigator", "coordinator", "assessor", "data_manager"])
@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 500},
        {},
        {"page_size": 4, "page": 2},
        {"site": "EDM"},
        {"subject": "EDM-0000", "visit_code": "V1"},
        {"visit_code": "V3", "page_size": 2},
    ],
    ids=["all", "default-page", "second-page", "site", "subject-and-code", "code-paged"],
)
def test_visit_list_is_byte_identical_to_the_serializer(
    api: Any, users: Any, study: None, role: str, params: dict[str, Any], monkeypatch: Any
) -> None:
    fast, plain = _both(api(role), "/api/v1/visits/", params, monkeypatch)
    assert fast == plain
    body = json.loads(fast)
    assert body["results"], "the case must show rows"
    for row in body["results"]:
        assert list(row) == VISIT_FIELDS


@pytest.mark.parametrize("params", [{"page_size": 500}, {"site": "EDM", "group": "CONTROL"}])
def test_subject_list_is_byte_identical_to_the_serializer(
    api: Any, users: Any, study: None, params: dict[str, Any], monkeypatch: Any
) -> None:
    Subject.objects.filter(study_id="TOR-0001").update(
        last_known_alive=dt.date(2025, 5, 1), onset_region=None
    )
    fast, plain = _both(api("investigator"), "/api/v1/subjects/", params, monkeypatch)
    assert fast == plain and json.loads(fast)["results"]


def test_visit_list_shows_the_values_of_the_study(api: Any, users: Any, study: None) -> None:
    """Not only the same as the serializer: the values themselves, as the contract shows them."""
    body = api("investigator").get("/api/v1/visits/", {"subject": "EDM-0000"}).json()
    assert body["count"] == 3 and body["next"] is None and body["previous"] is None
    v1, v2, v3 = body["results"]
    visit = Visit.objects.get(subject__study_id="EDM-0000", visit_code="V1")
    assert visit.date is not None
    assert v1 == {
        "id": visit.pk,
        "subject": "EDM-0000",
        "visit_code": "V1",
        "date": visit.date.isoformat(),
        "status": "completed",
        "days_from_baseline": 0,
        "months_from_onset": 7.25,
        "kings_stage": "4a",
        "kings_nutritional_failure": True,
        "kings_respiratory_failure": False,
        "mitos_stage": 3,
        "version": visit.version,
    }
    assert (v2["visit_code"], v2["status"], v2["date"]) == ("V2", "scheduled", None)
    assert (v3["visit_code"], v3["status"], v3["date"]) == ("V3", "missed", None)


def test_an_empty_list_shows_no_rows(api: Any, users: Any, study: None) -> None:
    body = api("investigator").get("/api/v1/visits/", {"subject": "NOBODY"}).json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}


class Kinds(serializers.Serializer):
    """DRF fields given values of other types than a model field reads."""

    choice = serializers.ChoiceField(choices=[(1, "one"), (2, "two"), ("x", "ex")])
    text_choice = serializers.ChoiceField(choices=[("a", "A"), ("4a", "Four A")])
    number_choice = serializers.ChoiceField(choices=[(0, "zero"), (3, "three")])
    flag = serializers.BooleanField(allow_null=True)
    day = serializers.DateField()
    number = serializers.IntegerField()
    big = serializers.BigIntegerField()
    big_text = serializers.BigIntegerField(coerce_to_string=True)
    real = serializers.FloatField()
    text = serializers.CharField()
    amount = serializers.DecimalField(max_digits=6, decimal_places=2)


#: Columns of one type (as a model field reads them: shown as they are, or dates as text) and
#: columns of mixed or odd types (each value through the field).
COLUMNS: list[tuple[str, list[Any]]] = [
    ("choice", [1, "1", 2, "x", "y", "", None, 7]),
    ("choice", [1, 2, 7, None]),
    ("text_choice", ["a", "4a", "zz", "", None]),
    ("text_choice", ["a", 4, None]),
    ("number_choice", [0, 3, 5, None]),
    ("number_choice", ["3", 3, True]),
    ("flag", [True, False, None, "false", "true", 1, 0, "no"]),
    ("flag", [True, False, None]),
    ("day", [dt.date(2025, 1, 2), "2025-01-03", None]),
    ("day", [dt.date(2025, 1, 2), dt.date(1999, 12, 31)]),
    ("day", [dt.date(2025, 1, 2), None]),
    ("number", [3, 4.0, "5", True, None]),
    ("number", [3, -4, None, 2**70]),
    ("big", [2**40, "7", None]),
    ("big", [2**40, 7]),
    ("big_text", [2**40, 5, None]),
    ("real", [1, 2.5, "3.25", None]),
    ("real", [2.5, float("inf"), None]),
    ("text", ["a", 5, None]),
    ("text", ["a", "", None]),
    ("amount", [Decimal("1.5"), 2, None]),
    ("number", []),
]


@pytest.mark.parametrize(("name", "values"), COLUMNS)
def test_a_column_shows_what_the_field_shows(name: str, values: list[Any]) -> None:
    """Each column conversion equals the field's own, value for value and type for type."""
    field = Kinds().fields[name]
    show = views._column_show(field)
    assert show is not None
    expected = [None if v is None else field.to_representation(v) for v in values]
    shown = list(show(values))
    assert shown == expected
    assert [type(v) for v in shown] == [type(v) for v in expected]


def test_columns_are_kept_only_when_no_field_reads_the_request() -> None:
    """A file field builds its URL from the request: its columns are worked out at each request,
    never served from the first request's serializer."""

    class ScanFiles(serializers.ModelSerializer):
        class Meta:
            model = Scan
            fields = ["id", "file"]

    first = views.list_columns(VisitSerializer())
    assert first is not None and views.list_columns(VisitSerializer()) is first
    files = views.list_columns(ScanFiles())
    assert files is not None and [column.name for column in files] == ["id", "file"]
    assert ScanFiles not in views._LIST_COLUMNS
