"""Concurrent writers on the real databases: uniqueness held by constraints, no "database is
locked" on SQLite, and a refusal in words (never an IntegrityError) for the losers."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from cohort import services
from cohort.models import ClinicalEvent
from tests.factories import ENROLLED, make_subject

pytestmark = pytest.mark.django_db(transaction=True)
WRITERS = 8


def _race(work: Callable[[int], Any]) -> list[BaseException | None]:
    """Run ``work(i)`` in WRITERS threads released together; return each one's exception."""
    barrier = threading.Barrier(WRITERS)
    outcome: list[BaseException | None] = [None] * WRITERS

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            work(i)
        except BaseException as error:
            outcome[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcome


def test_one_death_per_subject_under_concurrent_requests():
    subject = make_subject()

    def record_death(i: int) -> None:
        services.event_create(
            user=None, subject=subject, kind="death", date=ENROLLED + dt.timedelta(days=100 + i)
        )

    outcome = _race(record_death)
    assert ClinicalEvent.objects.filter(subject=subject, kind="death").count() == 1
    refused = [e for e in outcome if e is not None]
    assert len(refused) == WRITERS - 1
    for error in refused:
        assert isinstance(error, ValidationError), repr(error)
        # The model's rule or the constraint's message, whichever saw the winner first.
        assert "already has a death event" in " ".join(error.messages) or (
            "already has an event of this kind" in " ".join(error.messages)
        )


def test_concurrent_writers_to_different_subjects_all_succeed():
    subjects = [make_subject() for _ in range(WRITERS)]

    def record(i: int) -> None:
        services.subject_update(subjects[i], user=None, data={"handedness": "L"})
        services.event_create(
            user=None, subject=subjects[i], kind="niv", date=ENROLLED + dt.timedelta(days=30)
        )

    outcome = _race(record)
    assert outcome == [None] * WRITERS, [repr(e) for e in outcome if e]
    assert ClinicalEvent.objects.filter(kind="niv").count() == WRITERS
