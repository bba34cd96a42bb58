"""Base of MotorBand's management commands: a progress bar, and a lock against two copies running.

Two copies of a command that writes (an import, a quantification, a restore) would race for the
same rows and files, so ``StudyCommand.execute`` takes a lock named after the command for the
study's database first, and refuses with a clear message when another copy holds it. On PostgreSQL
the lock is an advisory lock (it covers every machine using the database); elsewhere (SQLite, the
`make run` default) it is an ``flock`` on a file beside the database, released by the kernel even
when the process is killed.

A SIGTERM (a service manager stopping the machine, `kill`) or SIGHUP does not kill a command
outright: it becomes ``CommandInterrupted``, which unwinds the command like an error, so its
transaction rolls back and the files it stored are removed (an import stopped in its image phase
leaves no orphan file), and the command exits with status 143.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import os
import signal
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from tqdm import tqdm

from core import roles
from core.access import record_access
from core.models import AccessAction, AccessEvent
from core.roles import StudyUser

T = TypeVar("T")

#: The access log's username for a command run on nobody's behalf (no ``--user``).
COMMAND_LINE = "system (command line)"


class CommandLocked(CommandError):
    """Another copy of the command is running on the same study database."""


def _lock_file(name: str, using: BaseDatabaseWrapper) -> Path:
    database = str(using.settings_dict.get("NAME") or "")
    digest = hashlib.sha256(f"{using.vendor}:{database}".encode()).hexdigest()[:12]
    folder = Path(getattr(settings, "VAR_DIR", settings.BASE_DIR / "var")) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{digest}.lock"


def _refusal(name: str, holder: str = "") -> CommandLocked:
    who = f" ({holder})" if holder else ""
    return CommandLocked(
        f"Another copy of `{name}` is already running on this study{who}. Wait for it to finish "
        "(or stop it) and run the command again: two copies would write the same records."
    )


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key of a command lock (a signed 32-bit number)."""
    return zlib.crc32(f"motorband-command:{name}".encode()) - 2**31


@contextlib.contextmanager
def command_lock(name: str, *, using: BaseDatabaseWrapper | None = None) -> Iterator[None]:
    """Hold the lock named ``name`` for the study database, or raise CommandLocked at once.

    ``using`` is the database connection (the default one unless a caller has its own).
    """
    using = using or connection
    if using.vendor == "postgresql":
        key = advisory_key(name)
        with using.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            (acquired,) = cursor.fetchone()
        if not acquired:
            raise _refusal(name)
        try:
            yield
        finally:
            with using.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    path = _lock_file(name, using)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise _refusal(name, handle.read().strip()) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()}")
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


class CommandInterrupted(SystemExit):
    """SIGTERM or SIGHUP arrived: unwind (rolling back, removing stored files), then exit 143."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signal.SIGTERM)
        self.signum = signum

    def __str__(self) -> str:
        return (
            f"Stopped by signal {signal.Signals(self.signum).name}: nothing was kept "
            "(the transaction was rolled back and stored files removed)."
        )


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise CommandInterrupted (main thread only: elsewhere,
    as in a web request's thread, signals cannot be handled and nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise CommandInterrupted(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class StudyCommand(BaseCommand):
    """A management command that shows progress and never runs twice at once.

    Subclasses implement ``handle`` as usual and wrap long loops in ``self.progress(...)``.
    ``exclusive = False`` lets a read-only command run beside others; ``lock_name`` defaults to
    the command's own name.
    """

    exclusive = True
    lock_name: str | None = None

    def execute(self, *args: Any, **options: Any) -> Any:
        self._verbosity = int(options.get("verbosity", 1))
        try:
            with interruptible():
                if not self.exclusive:
                    return super().execute(*args, **options)
                with command_lock(self.lock_name or self._command_name()):
                    return super().execute(*args, **options)
        except CommandInterrupted as stopped:
            self.stderr.write(str(stopped))
            raise

    def _command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

    def progress(
        self,
        iterable: Iterable[T] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "item",
    ) -> tqdm[T]:
        """A progress bar on standard error (silent with --verbosity 0)."""
        return tqdm(
            iterable,
            total=total,
            desc=desc,
            unit=unit,
            file=self.stderr,
            disable=getattr(self, "_verbosity", 1) == 0,
        )


# --- who a command acts for, and its access-log entry -------------------------------------------


def os_user() -> str:
    """The operating-system account running the command ("" when there is none)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return ""


def study_user_named(name: str, *, allowed: frozenset[str], doing: str) -> StudyUser:
    """The active account ``name`` with one of the ``allowed`` study roles (a ``--user`` option).

    Raises CommandError, saying why, for an unknown or inactive account or another role; ``doing``
    ends the sentence "... may not ...".
    """
    user = get_user_model()._default_manager.filter(username=name).first()
    if user is None:
        raise CommandError(f"No account is named {name!r}: give the username of a study user.")
    if not user.is_active:
        raise CommandError(f"The account {name!r} is inactive: it cannot act in the study.")
    role = roles.role_of(user)
    if role not in allowed:
        label = roles.ROLE_LABELS.get(role or "", "no study role")
        accepted = " or ".join(roles.ROLE_LABELS[r].lower() for r in roles.ROLES if r in allowed)
        raise CommandError(f"{name!r} ({label.lower()}) may not {doing}; name a {accepted}.")
    return user


def record_command_access(
    user: StudyUser | None, action: AccessAction, target: str, *, command: str, **detail: Any
) -> AccessEvent:
    """The access-log entry of a command: the account it acts for, else ``COMMAND_LINE``."""
    return record_access(
        user,
        action,
        target,
        username=None if user is not None else COMMAND_LINE,
        via=command,
        os_user=os_user(),
        **detail,
    )
