"""The automatic checks: each flags what its rule says, in a sentence naming the rule, and asks
about each finding once (a re-run, or a closed query, never opens it again)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from cohort import services as cohort_services
from queries import checks, services
from queries.models import DataQuery, QueryStatus
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

pytestmark = pytest.mark.django_db


def _complete(visit, alsfrs):
    cohort_services.umn_exam_save(user=None, visit=visit, items=umn_items(2))
    cohort_services.alsfrs_save(user=None, visit=visit, items=alsfrs)


@pytest.fixture
def subject(sites):
    """EDM-0100: ALSFRS-R 40 at V1, 46 at V2 (+6, not more than 6; V2 is out of window), 33 at
    V3, 40 at V4 (+7, flagged; item 7 rose most, +3)."""
    subject = make_subject(study_id="EDM-0100", site=sites["EDM"])
    v1 = make_visit(subject, "V1")
    _complete(v1, alsfrs_items(q1=2, q2=2, q3=2, q4=2))
    v2 = make_visit(subject, "V2", ENROLLED + dt.timedelta(days=122 + 45))
    _complete(v2, alsfrs_items(q1=3, q2=3))
    v3 = make_visit(subject, "V3")
    _complete(v3, alsfrs_items(q1=1, q2=1, q3=2, q4=2, q7=1, q8=2))
    v4 = make_visit(subject, "V4")
    _complete(v4, alsfrs_items(q1=1, q2=1, q3=2))
    return {"subject": subject, "v1": v1, "v2": v2, "v3": v3, "v4": v4}


def test_each_rule_flags_what_it_says(subject, world):
    findings = {
        (f.check, f.record_type, f.record_id): f for f in services.check_findings(user=None)
    }
    edm, tor = world["EDM"], world["TOR"]
    assert set(findings) == {
        (checks.VISIT_OUT_OF_WINDOW, "visit", subject["v2"].pk),
        (checks.VISIT_MISSING_UMN, "visit", edm.v2.pk),
        (checks.VISIT_MISSING_ALSFRS, "visit", edm.v2.pk),
        (checks.VISIT_MISSING_UMN, "visit", tor.v2.pk),
        (checks.VISIT_MISSING_ALSFRS, "visit", tor.v2.pk),
        (checks.ALSFRS_RISE, "alsfrs", subject["v4"].alsfrs.pk),
    }
    window = findings[(checks.VISIT_OUT_OF_WINDOW, "visit", subject["v2"].pk)]
    assert window.field == "date"
    assert "visit out of window" in window.message and "± 30 days" in window.message
    missing = findings[(checks.VISIT_MISSING_UMN, "visit", edm.v2.pk)]
    assert missing.field == "status" and "completed but has no Penn UMN exam" in missing.message
    rise = findings[(checks.ALSFRS_RISE, "alsfrs", subject["v4"].alsfrs.pk)]
    assert rise.field == "q7"  # +3: the largest item rise (q4 and q8 rose +2)
    assert "rose from 33 at V3 to 40 at V4 (+7 points)" in rise.message
    assert "more than 6 points" in rise.message


def test_a_missed_visit_is_never_out_of_window(sites):
    subject = make_subject(site=sites["EDM"])
    _complete(make_visit(subject, "V1"), alsfrs_items())
    make_visit(subject, "V2", ENROLLED + dt.timedelta(days=200), status="missed")
    assert services.check_findings(user=None) == []


def test_the_checks_open_each_query_once(subject, world, users):
    opened = services.run_checks(users["data_manager"])
    assert len(opened) == 6
    assert all(q.auto and q.opened_by is None and q.status == QueryStatus.OPEN for q in opened)
    assert opened[0].history.get().history_user == users["data_manager"]
    assert services.run_checks(None) == []
    # A person decided about one (closed it): the same finding is not asked again.
    window = DataQuery.objects.get(check_name=checks.VISIT_OUT_OF_WINDOW)
    services.query_close(window, user=users["data_manager"], reason="Visit moved by the MRI.")
    assert services.run_checks(None) == []
    assert DataQuery.objects.count() == 6
    # A new problem is asked about.
    v3 = make_visit(world["EDM"].subject, "V3")
    assert {q.check_name for q in services.run_checks(None)} == {
        checks.VISIT_MISSING_UMN,
        checks.VISIT_MISSING_ALSFRS,
    }
    assert DataQuery.objects.filter(visit=v3).count() == 2


@pytest.mark.parametrize("role", ["coordinator", "investigator", "rater"])
def test_only_monitors_run_the_checks(users, world, role):
    with pytest.raises(PermissionDenied):
        services.run_checks(users[role])


def test_the_command_prints_what_it_opened(subject, world):
    out = io.StringIO()
    call_command("check_data", "--dry-run", stdout=out)
    assert "6 finding(s); no query opened (dry run)." in out.getvalue()
    assert not DataQuery.objects.exists()
    out = io.StringIO()
    call_command("check_data", stdout=out)
    text = out.getvalue()
    assert text.count("opened query ") == 6 and "6 queries opened." in text
    assert "[alsfrs_rise] EDM alsfrs" in text and "Item 7" in text
    out = io.StringIO()
    call_command("check_data", stdout=out)
    assert "0 queries opened." in out.getvalue()
