"""The data version changes with every write to the study's data, by any path, and only then."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction

from cohort import services
from cohort.models import Subject, Visit
from core import dataversion
from core.access import record_access
from core.models import AccessAction
from tests.factories import make_subject, make_visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def subject(sites):
    return make_subject(study_id="EDM-0001", site=sites["EDM"])


def test_a_service_write_draws_a_new_token(subject):
    before = dataversion.current()
    make_visit(subject, "V1")
    assert dataversion.current() not in (None, before)


def test_bulk_create_queryset_update_and_delete_draw_new_tokens(subject):
    tokens = [dataversion.current()]
    Visit.objects.bulk_create(
        [Visit(subject=subject, visit_code="V1", date=dt.date(2025, 1, 10), status="completed")]
    )
    tokens.append(dataversion.current())
    Visit.objects.filter(subject=subject).update(date=dt.date(2025, 1, 11))
    tokens.append(dataversion.current())
    Subject.objects.filter(pk=subject.pk).update(handedness="L")
    tokens.append(dataversion.current())
    with connection.cursor() as cursor:  # raw SQL through Django's connection too
        cursor.execute("UPDATE cohort_visit SET date = %s", ["2025-01-12"])
    tokens.append(dataversion.current())
    Visit.objects.filter(subject=subject).delete()
    tokens.append(dataversion.current())
    assert len(set(tokens)) == len(tokens), tokens


def test_reads_never_change_the_version(subject):
    before = dataversion.current()
    list(Visit.objects.all())
    Subject.objects.filter(pk=subject.pk).exists()
    assert dataversion.current() == before


def test_the_access_log_and_tokens_do_not_change_the_version(users, rf):
    before = dataversion.current()
    request = rf.get("/")
    request.user = users["investigator"]
    record_access(request, AccessAction.VIEW_IDENTIFIABLE, "subject EDM-0001")
    assert dataversion.current() == before


def test_a_rolled_back_change_rolls_its_token_back(subject):
    """SQLite: the token rolls back with the change. PostgreSQL: the sequence never goes back
    (nextval takes no lock); a rolled-back change only costs the cache a miss."""
    from django.db import connection

    before = dataversion.current()
    with pytest.raises(RuntimeError), transaction.atomic():
        Subject.objects.filter(pk=subject.pk).update(handedness="L")
        assert dataversion.current() != before
        raise RuntimeError("undo")
    if connection.vendor == "postgresql":
        assert dataversion.current() != before
    else:
        assert dataversion.current() == before


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ('INSERT INTO "cohort_visit" ("date") VALUES (%s)', "cohort_visit"),
        ('UPDATE "imaging_read" SET "is_current" = %s', "imaging_read"),
        ('DELETE FROM "imaging_scan" WHERE id = 1', "imaging_scan"),
        ("insert or replace into cohort_study (id) values (1)", "cohort_study"),
        ('SELECT * FROM "cohort_visit"', None),
        ("SAVEPOINT s1", None),
    ],
)
def test_written_table(sql, table):
    assert dataversion.written_table(sql) == table


def test_untracked_tables_are_not_data():
    assert not dataversion.changes_data('INSERT INTO "core_accessevent" ("when") VALUES (1)')
    assert not dataversion.changes_data('UPDATE "knox_authtoken" SET "expiry" = 1')
    assert dataversion.changes_data('UPDATE "cohort_umnexam" SET "total" = 1')


def test_services_keep_working_inside_a_callers_execute_wrapper(subject):
    seen: list[str] = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    before = dataversion.current()
    with connection.execute_wrapper(spy):
        services.subject_update(
            subject, user=None, data={"handedness": "L"}, expected_version=subject.version
        )
    assert dataversion.current() != before
    assert dataversion.track_writes in connection.execute_wrappers
    assert spy not in connection.execute_wrappers
    assert any("cohort_subject" in sql for sql in seen)


@pytest.mark.django_db(transaction=True)
def test_writers_take_no_lock_on_the_version(sites):
    """On PostgreSQL two open writing transactions do not wait for each other on the version
    (an upsert of its row would make the second wait until the first commits)."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time anyway")
    from tests.factories import make_subject

    first = make_subject(site=sites["EDM"])
    second = make_subject(site=sites["EDM"])
    holding = threading.Event()
    release = threading.Event()

    def hold_a_write() -> None:
        try:
            with transaction.atomic():
                Subject.objects.filter(pk=first.pk).update(handedness="L")
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold_a_write)
    thread.start()
    try:
        assert holding.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            Subject.objects.filter(pk=second.pk).update(handedness="A")
        version = dataversion.current()
    finally:
        release.set()
        thread.join(10)
    assert version is not None
    assert dataversion.current() != version  # the first writer's commit drew again
