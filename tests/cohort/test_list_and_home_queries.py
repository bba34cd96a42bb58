"""The home page and the subject and visit lists are counted and read in the database: the same
answers as row-by-row code, in a number of queries that does not grow with the study."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cohort import selectors, services
from cohort.api.serializers import SubjectSerializer, VisitSerializer
from cohort.models import ClinicalEvent, EventKind, Study, Visit, VisitStatus
from tests.factories import ENROLLED, make_subject, make_visit

pytestmark = pytest.mark.django_db

TODAY = ENROLLED + dt.timedelta(days=300)


def due_row_by_row(*, user: Any, today: dt.date, horizon_days: int = 30) -> list[Any]:
    """The due/overdue rule read one subject at a time (the reference the query must match)."""
    schedule = Study.current().schedule
    ended = set(
        ClinicalEvent.objects.filter(kind__in=[EventKind.DEATH, EventKind.WITHDRAWAL]).values_list(
            "subject_id", flat=True
        )
    )
    window = dt.timedelta(days=schedule.window_days)
    due = []
    for subject in selectors.subject_list(user=user).prefetch_related("visits"):
        if subject.pk in ended:
            continue
        visits = {v.visit_code: v for v in subject.visits.all()}
        baseline = visits.get("V1")
        if baseline is None or baseline.date is None:
            continue
        for code in schedule.codes()[1:]:
            visit = visits.get(code)
            if visit is not None and visit.status != VisitStatus.SCHEDULED:
                continue
            target = schedule.target_date(baseline.date, code)
            start, end = target - window, target + window
            if today > end:
                due.append((subject.study_id, code, target, start, end, True))
            elif today >= start - dt.timedelta(days=horizon_days):
                due.append((subject.study_id, code, target, start, end, False))
            break
    due.sort(key=lambda d: (not d[5], d[2]))
    return due


@pytest.fixture
def study(sites: dict[str, Any]) -> None:
    """Subjects in every state the rule knows, at both sites."""
    for index, site in enumerate(sites.values()):
        code = site.code

        def subject(number: int, code: str = code, site: Any = site) -> Any:
            return make_subject(study_id=f"{code}-{number:04d}", site=site)

        def days(n: int, shift: int = index) -> dt.date:
            return ENROLLED + dt.timedelta(days=n + shift)

        make_visit(subject(1), "V1", days(0))  # V2 overdue by TODAY
        make_visit(subject(2), "V1", days(200))  # V2 window opens within 30 days
        make_visit(subject(3), "V1", days(290))  # V2 far ahead: not listed
        s4 = subject(4)  # V2 done, V3 overdue
        make_visit(s4, "V1", days(0))
        make_visit(s4, "V2", days(122))
        s5 = subject(5)  # V2 missed counts as done; V3 due
        make_visit(s5, "V1", days(60))
        services.visit_create(user=None, subject=s5, visit_code="V2", status="missed")
        s6 = subject(6)  # V2 scheduled: still expected
        make_visit(s6, "V1", days(0))
        make_visit(s6, "V2", days(400), status="scheduled")
        s7 = subject(7)  # died: not expected
        make_visit(s7, "V1", days(0))
        services.event_create(user=None, subject=s7, kind="death", date=days(30))
        subject(8)  # no V1: not expected
        s9 = subject(9)  # every visit done
        for number, code_ in enumerate(("V1", "V2", "V3")):
            make_visit(s9, code_, days(122 * number))
        services.visit_create(  # V1 planned without a date yet: no baseline
            user=None, subject=subject(10), visit_code="V1", date=None, status="scheduled"
        )


@pytest.mark.parametrize("who", ["investigator", "coordinator", "coord_tor", "rater"])
def test_due_visits_match_the_rule_read_subject_by_subject(users, study, who):
    found = [
        (d.subject.study_id, d.visit_code, d.target_date, d.window_start, d.window_end, d.overdue)
        for d in selectors.visits_due(user=users[who], today=TODAY)
    ]
    assert found == due_row_by_row(user=users[who], today=TODAY)
    if who == "investigator":
        listed = {(row[0][-4:], row[1], row[5]) for row in found}
        assert listed == {
            ("0001", "V2", True),
            ("0002", "V2", False),
            ("0004", "V3", True),
            ("0005", "V3", False),
            ("0006", "V2", True),
        }


def test_the_overview_counts_match(users, study):
    overview = selectors.study_overview(user=users["coordinator"])
    assert overview["grand_total"] == 10
    visits = Visit.objects.filter(subject__site__code="EDM")
    assert overview["visit_status"]["Completed"] == visits.filter(status="completed").count()
    assert overview["visit_status"]["Missed"] == 1
    assert overview["visit_status"]["Scheduled"] == 2


def _home_queries(client: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/")
    assert response.status_code == 200
    return len(captured)


def test_the_home_page_costs_the_same_queries_at_any_size(users, sites, client):
    client.force_login(users["investigator"])
    for number in range(3):
        make_visit(make_subject(study_id=f"EDM-{number:04d}", site=sites["EDM"]), "V1")
    few = _home_queries(client)
    for number in range(3, 40):
        subject = make_subject(study_id=f"EDM-{number:04d}", site=sites["EDM"])
        make_visit(subject, "V1")
        make_visit(subject, "V2", status="scheduled")
    many = _home_queries(client)
    assert many == few
    assert many <= 15


def test_the_home_page_under_a_query_budget(users, study, client, django_assert_max_num_queries):
    client.force_login(users["coordinator"])
    # Session, user, role, sites; subjects per site and group, sites, study, due visits grouped
    # by subject, their subjects, visits per status; the data queries card; the session saved.
    with django_assert_max_num_queries(16):
        response = client.get("/")
    assert response.status_code == 200
    assert b"EDM-0001" in response.content and b"TOR-0001" not in response.content


@pytest.mark.parametrize(
    ("path", "serializer", "queryset"),
    [
        ("visits/", VisitSerializer, selectors.visit_list),
        ("subjects/", SubjectSerializer, selectors.subject_list),
    ],
)
def test_lists_read_as_values_show_what_the_serializer_shows(
    api, users, study, path, serializer, queryset
):
    Visit.objects.filter(visit_code="V2").update(
        kings_stage="4a", kings_nutritional_failure=True, months_from_onset=7.25
    )
    response = api("investigator").get(f"/api/v1/{path}", {"page_size": 500})
    assert response.status_code == 200
    rows = queryset(user=users["investigator"])
    expected = serializer(rows, many=True).data
    assert response.json()["results"] == [dict(row) for row in expected]
    assert response.json()["count"] == rows.count() > 10
