"""The query workflow's rules: who opens, answers, closes and reopens, in which state, audited."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cohort import services as cohort_services
from core.records import ConcurrencyError
from queries import selectors, services
from queries.models import DataQuery, QueryStatus
from queries.records import queryable_fields
from tests.queries.conftest import open_on_visit

pytestmark = pytest.mark.django_db


def test_a_data_manager_opens_a_query_on_a_visit_field(users, world, edm_query):
    query = edm_query
    assert query.status == QueryStatus.OPEN and query.version == 1
    assert query.site == world["EDM"].site
    assert query.subject == world["EDM"].subject and query.visit == world["EDM"].v2
    assert query.opened_by == users["data_manager"] and not query.auto
    entry = query.history.get()
    assert entry.history_user == users["data_manager"]
    assert entry.history_change_reason == "query opened"


def test_queries_on_every_record_type_know_their_site_and_subject(users, world):
    edm = world["EDM"]
    records = {
        "subject": (edm.subject.pk, "onset_date", None),
        "visit": (edm.v1.pk, "status", edm.v1),
        "umn_exam": (edm.umn.pk, "right_upper_hoffmann", edm.v1),
        "alsfrs": (edm.alsfrs.pk, "q3", edm.v1),
        "event": (edm.event.pk, "date", None),
    }
    for record_type, (record_id, field, visit) in records.items():
        query = services.query_open(
            user=users["admin"],
            record_type=record_type,
            record_id=record_id,
            field=field,
            message="Please check.",
        )
        assert (query.site, query.subject, query.visit) == (edm.site, edm.subject, visit)


@pytest.mark.parametrize("role", ["coordinator", "investigator", "rater", "assessor"])
def test_only_monitors_open_queries(users, world, role):
    with pytest.raises(PermissionDenied, match="Only data managers and admins"):
        open_on_visit(users[role], world["EDM"])
    assert not DataQuery.objects.exists()


@pytest.mark.parametrize(
    ("field", "why"),
    [
        ("days_from_baseline", "derived"),
        ("subject", "a relation"),
        ("version", "bookkeeping"),
        ("nonsense", "unknown"),
    ],
)
def test_the_field_must_be_an_editable_field_of_the_record(users, world, field, why):
    with pytest.raises(ValidationError) as error:
        open_on_visit(users["data_manager"], world["EDM"], field=field)
    assert (
        "choose one of: visit_code, date, status, comment" in error.value.message_dict["field"][0]
    )


def test_the_queryable_fields_are_the_values_a_site_enters():
    assert list(queryable_fields("visit")) == ["visit_code", "date", "status", "comment"]
    assert "q5_gastrostomy" in queryable_fields("alsfrs")
    assert "total" not in queryable_fields("alsfrs")
    assert queryable_fields("alsfrs")["q3"] == "Item 3 Swallowing (q3)"
    assert "visit" not in queryable_fields("scan") and "kind" in queryable_fields("scan")


def test_the_record_must_exist_and_the_message_be_written(users, world):
    dm = users["data_manager"]
    with pytest.raises(ValidationError, match="There is no visit 999999"):
        services.query_open(
            user=dm, record_type="visit", record_id=999999, field="date", message="?"
        )
    with pytest.raises(ValidationError, match="Choose one of"):
        services.query_open(
            user=dm, record_type="diagnosis", record_id=1, field="date", message="?"
        )
    with pytest.raises(ValidationError, match="Write the question"):
        open_on_visit(dm, world["EDM"], message="   ")


def test_the_site_answers_and_the_author_closes(users, edm_query):
    answered = services.query_answer(
        edm_query, user=users["coordinator"], answer="Checked: the source says 2025-05-12."
    )
    assert answered.status == QueryStatus.ANSWERED
    assert answered.answered_by == users["coordinator"] and answered.answered_at is not None
    closed = services.query_close(answered, user=users["data_manager"])
    assert closed.status == QueryStatus.CLOSED and closed.closed_at is not None
    assert closed.closed_by == users["data_manager"] and closed.version == 3
    reasons = list(
        closed.history.order_by("history_date").values_list("history_change_reason", flat=True)
    )
    assert reasons == ["query opened", "query answered", "answer accepted"]


@pytest.mark.parametrize("role", ["coord_tor", "investigator", "rater"])
def test_only_the_sites_writers_answer(users, edm_query, role):
    with pytest.raises(PermissionDenied, match="Only the site's"):
        services.query_answer(edm_query, user=users[role], answer="Fine.")


def test_a_data_manager_or_admin_may_answer_too(users, edm_query):
    assert services.query_answer(edm_query, user=users["admin"], answer="Corrected.").status == (
        QueryStatus.ANSWERED
    )


def test_an_answer_needs_text_and_a_closed_query_takes_none(users, edm_query):
    with pytest.raises(ValidationError, match="Write the answer"):
        services.query_answer(edm_query, user=users["coordinator"], answer="  ")
    services.query_close(edm_query, user=users["data_manager"], reason="Raised in error.")
    with pytest.raises(ValidationError, match="closed"):
        services.query_answer(edm_query, user=users["coordinator"], answer="Late answer.")


def test_an_unanswered_query_closes_only_with_a_reason(users, edm_query):
    with pytest.raises(ValidationError) as error:
        services.query_close(edm_query, user=users["data_manager"])
    assert "has not answered yet" in error.value.message_dict["reason"][0]
    closed = services.query_close(edm_query, user=users["data_manager"], reason="Raised in error.")
    assert closed.history.latest("history_date").history_change_reason == "Raised in error."
    with pytest.raises(ValidationError, match="closed already"):
        services.query_close(closed, user=users["data_manager"], reason="again")


def test_only_the_author_or_an_admin_closes_and_reopens(users, edm_query):
    other = cohort_services.study_user_save(
        username="dm2", role="data_manager", password="pw-Test-123!"
    )
    services.query_answer(edm_query, user=users["coordinator"], answer="Corrected.")
    for who in (other, users["coordinator"]):
        with pytest.raises(PermissionDenied):
            services.query_close(edm_query, user=who)
        with pytest.raises(PermissionDenied):
            services.query_reopen(edm_query, user=who, message="Still wrong.")
    assert services.query_close(edm_query, user=users["admin"]).status == QueryStatus.CLOSED


def test_the_author_reopens_with_a_new_message(users, edm_query):
    services.query_answer(edm_query, user=users["coordinator"], answer="Date is right.")
    with pytest.raises(ValidationError, match="Write the new message"):
        services.query_reopen(edm_query, user=users["data_manager"], message="")
    reopened = services.query_reopen(
        edm_query, user=users["data_manager"], message="The scan says otherwise: check again."
    )
    assert reopened.status == QueryStatus.OPEN and reopened.answer == ""
    assert reopened.message == "The scan says otherwise: check again."
    assert reopened.answered_by is None and reopened.closed_at is None
    with pytest.raises(ValidationError, match="open already"):
        services.query_reopen(reopened, user=users["data_manager"], message="again")
    # The first message and the first answer stay in the trail.
    trail = selectors.query_trail(reopened)
    assert [t["reason"] for t in trail] == ["query opened", "query answered", "query reopened"]
    assert trail[1]["answer"] == "Date is right."
    assert trail[0]["message"].startswith("The V2 date differs")


def test_a_closed_query_can_be_reopened(users, edm_query):
    services.query_close(edm_query, user=users["data_manager"], reason="Raised in error.")
    reopened = services.query_reopen(edm_query, user=users["data_manager"], message="Not so.")
    assert reopened.status == QueryStatus.OPEN and reopened.closed_by is None


def test_a_stale_version_is_refused(users, edm_query):
    services.query_answer(edm_query, user=users["coordinator"], answer="Corrected.")
    with pytest.raises(ConcurrencyError):
        services.query_close(edm_query, user=users["data_manager"], expected_version=1)


def test_the_author_rewords_an_open_query_only(users, edm_query):
    reworded = services.query_edit_message(
        edm_query, user=users["data_manager"], message="Check the V2 date, please."
    )
    assert reworded.message == "Check the V2 date, please."
    services.query_answer(reworded, user=users["coordinator"], answer="Done.")
    with pytest.raises(ValidationError, match="reopen the query"):
        services.query_edit_message(reworded, user=users["data_manager"], message="Other.")


def test_any_monitor_closes_an_automatic_query(users, world):
    query = services.query_open(
        user=None,
        record_type="visit",
        record_id=world["EDM"].v2.pk,
        field="status",
        message="Automatic check: no Penn UMN exam.",
        check_name="visit_missing_umn",
    )
    assert query.auto and query.opened_by is None
    other = cohort_services.study_user_save(
        username="dm2", role="data_manager", password="pw-Test-123!"
    )
    services.query_answer(query, user=users["coordinator"], answer="Entered now.")
    assert services.query_close(query, user=other).status == QueryStatus.CLOSED


def test_the_database_refuses_a_second_live_automatic_query(users, world):
    def auto() -> DataQuery:
        return services.query_open(
            user=None,
            record_type="visit",
            record_id=world["EDM"].v2.pk,
            field="status",
            message="Automatic check.",
            check_name="visit_missing_umn",
        )

    first = auto()
    with pytest.raises(ValidationError, match="already has a query open"):
        auto()
    services.query_close(first, user=users["data_manager"], reason="Form entered.")
    assert auto().status == QueryStatus.OPEN  # a closed one no longer blocks
    # People's queries are never limited: two monitors may ask about the same field.
    open_on_visit(users["data_manager"], world["EDM"], field="status")
    open_on_visit(users["admin"], world["EDM"], field="status")


def test_queries_are_scoped_like_their_records(users, edm_query, tor_query):
    def ids(name: str) -> set[int]:
        return set(selectors.query_list(user=users[name]).values_list("pk", flat=True))

    both = {edm_query.pk, tor_query.pk}
    assert ids("coordinator") == {edm_query.pk}
    assert ids("coord_tor") == {tor_query.pk}
    assert ids("investigator") == ids("data_manager") == ids("admin") == both
    assert ids("rater") == ids("assessor") == set()


def test_the_home_lists_what_waits_for_each_role(users, edm_query, tor_query):
    site = selectors.home_queries(user=users["coordinator"])
    assert site["kind"] == "site" and [r.query for r in site["rows"]] == [edm_query]
    services.query_answer(edm_query, user=users["coordinator"], answer="Corrected.")
    assert selectors.home_queries(user=users["coordinator"])["count"] == 0
    monitor = selectors.home_queries(user=users["data_manager"])
    assert monitor["kind"] == "monitor" and monitor["count"] == 1 and monitor["open_count"] == 1
    assert selectors.home_queries(user=users["investigator"])["kind"] is None
    assert selectors.home_queries(user=users["rater"])["rows"] == []
