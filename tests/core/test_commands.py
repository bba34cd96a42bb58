"""The management command base (core.commands): one copy at a time, and a progress bar."""

from __future__ import annotations

import io
import multiprocessing
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from core.commands import CommandLocked, StudyCommand, advisory_key, command_lock


def _hold_lock(name: str, ready: Any, done: Any) -> None:
    # A process of its own, on a connection of its own (never the parent's, which it inherited).
    own = connections.create_connection("default")
    with command_lock(name, using=own):
        ready.set()
        done.wait(20)


@pytest.mark.django_db(transaction=True)
def test_a_second_copy_is_refused_while_the_first_runs():
    context = multiprocessing.get_context("fork")
    ready, done = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=("assign_reads", ready, done))
    holder.start()
    try:
        assert ready.wait(20)
        with pytest.raises(CommandError, match="Another copy of `assign_reads` is already running"):
            call_command("assign_reads", stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        done.set()
        holder.join(20)


@pytest.mark.django_db(transaction=True)
def test_lock_is_released_when_the_command_ends(users):
    for _ in range(2):  # the second run would be refused if the first kept the lock
        call_command("assign_reads", "--k", "1", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_lock_on_the_same_database_is_exclusive():
    with command_lock("quantify"):
        if connection.vendor == "postgresql":
            # An advisory lock is re-entrant within one session: ask from a second session.
            other = connections.create_connection("default")
            try:
                with other.cursor() as cursor:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", [advisory_key("quantify")])
                    assert cursor.fetchone() == (False,)
            finally:
                other.close()
        else:
            with pytest.raises(CommandLocked, match="`quantify`"), command_lock("quantify"):
                pass
    with command_lock("quantify"):
        pass  # free again


def test_every_command_is_a_study_command():
    from django.core.management import get_commands, load_command_class

    ours = {
        name: app
        for name, app in get_commands().items()
        if app in ("cohort", "imaging", "analysis")
    }
    assert ours, "no MotorBand command found"
    for name, app in ours.items():
        assert isinstance(load_command_class(app, name), StudyCommand), name


def test_progress_bar_is_silent_at_verbosity_zero():
    command = StudyCommand(stdout=io.StringIO(), stderr=io.StringIO())
    command._verbosity = 0
    assert list(command.progress(range(3), desc="x")) == [0, 1, 2]
    assert command.stderr._out.getvalue() == ""
    command._verbosity = 1
    list(command.progress(range(3), desc="counting"))
    assert "counting" in command.stderr._out.getvalue()
