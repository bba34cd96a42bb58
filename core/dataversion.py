"""The data version: a token that changes whenever the study's data change, for caches of answers.

Every INSERT, UPDATE or DELETE that Django sends to a table of study data, through the ORM or not
(``save()``, ``bulk_create``, a queryset's ``update()`` or ``delete()``, ``loaddata``, raw SQL on
Django's connection), draws a new token in the same transaction (a database execute wrapper
installed on every connection). No service has to remember to bump it, and a rolled-back change
rolls its token back with it. Tables that change without the data changing (the access log,
sessions, tokens, login attempts, export jobs, data queries) are left out, so reading a page
does not throw the answers away.

A token is random rather than a counter: two states of the data never share one, even in tests
that roll back their transactions or after a restored backup, so a cache keyed by it can never
answer from another state.

On PostgreSQL a write takes no lock for this: the version is the row's token (drawn at migrate)
with a sequence's value, and a write draws ``nextval()``, which never waits and never rolls back.
(An upsert of the one row inside each writing transaction would make every writer of the study
queue on that row until commit, and two transactions that lock a subject and the version row in
opposite orders would deadlock.) A writing transaction draws once more after it commits, so an
answer computed from the data before the commit, under a value drawn inside the transaction, is
never served after it. SQLite has one writer at a time anyway: there the row is upserted.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from django.db import connection as default_connection
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate, pre_migrate

TABLE = "core_dataversion"
SEQUENCE = "core_dataversion_seq"
ROW_ID = 1
#: Tables whose writes do not change any answer: bookkeeping of access, logins, exports, queries.
UNTRACKED_TABLES = frozenset(
    {
        TABLE,
        "core_accessevent",
        "django_session",
        "django_migrations",
        "django_admin_log",
        "django_cache",
        "knox_authtoken",
        "axes_accessattempt",
        "axes_accessattemptexpiration",
        "axes_accessfailurelog",
        "axes_accesslog",
        "analysis_exportjob",
        "queries_dataquery",
        "queries_historicaldataquery",
    }
)
# The statements Django writes with, and the table each writes to.
_WRITE = re.compile(
    r"""^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+["`]?([\w.]+)["`]?""",
    re.IGNORECASE,
)
_BUMP_SQL = (
    f"INSERT INTO {TABLE} (id, token, counter) VALUES (%s, %s, 1) "
    f"ON CONFLICT (id) DO UPDATE SET token = excluded.token, counter = {TABLE}.counter + 1"
)
#: While ``migrate`` runs the table may not exist yet; the version is bumped once at its end.
_state = {"migrating": False}


def written_table(sql: Any) -> str | None:
    """The table an INSERT, UPDATE or DELETE statement writes to (lower case), else None."""
    if not isinstance(sql, str):
        return None
    match = _WRITE.match(sql)
    return match.group(1).lower() if match else None


def changes_data(sql: Any) -> bool:
    """Whether a statement writes to a table of study data."""
    table = written_table(sql)
    return table is not None and table not in UNTRACKED_TABLES


def _sequenced(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor == "postgresql"


def bump(connection: BaseDatabaseWrapper | None = None) -> None:
    """Draw a new version: nextval() on PostgreSQL (no lock), else a new token (in the caller's
    transaction, if any)."""
    connection = connection or default_connection
    with connection.cursor() as cursor:
        if _sequenced(connection):
            cursor.execute("SELECT nextval(%s)", [SEQUENCE])
        else:
            cursor.execute(_BUMP_SQL, [ROW_ID, secrets.token_hex(16)])


def _bump_after_commit(connection: BaseDatabaseWrapper) -> None:
    """Once per outermost transaction: draw again when it commits (see the module docstring)."""
    if not connection.in_atomic_block or not connection.atomic_blocks:
        return
    outermost = id(connection.atomic_blocks[0])
    if getattr(connection, "_dataversion_registered", None) == outermost:
        return
    connection._dataversion_registered = outermost  # type: ignore[attr-defined]

    def again() -> None:
        connection._dataversion_registered = None  # type: ignore[attr-defined]
        bump(connection)

    transaction.on_commit(again, using=connection.alias)


def current() -> str | None:
    """The current version, or None when there is no version row (caching is then off)."""
    sequenced = _sequenced(default_connection)
    with default_connection.cursor() as cursor:
        if sequenced:
            cursor.execute(
                f"SELECT token, (SELECT last_value FROM {SEQUENCE}) FROM {TABLE} WHERE id = %s",
                [ROW_ID],
            )
        else:
            cursor.execute(f"SELECT token FROM {TABLE} WHERE id = %s", [ROW_ID])
        row = cursor.fetchone()
    if not row:
        return None
    return f"{row[0]}:{row[1]}" if sequenced else str(row[0])


def track_writes(
    execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Execute wrapper: run the statement, then bump the version if it wrote study data."""
    result = execute(sql, params, many, context)
    if not _state["migrating"] and changes_data(sql):
        connection = context["connection"]
        bump(connection)
        if _sequenced(connection):
            _bump_after_commit(connection)
    return result


def _install(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    # First in the list: a caller's ``connection.execute_wrapper()`` block pops the last one.
    if track_writes not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, track_writes)


def _migration_started(sender: Any, **kwargs: Any) -> None:
    _state["migrating"] = True


def _migration_finished(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    if not _state["migrating"] and sender.label != "core":
        return
    _state["migrating"] = False
    connection = connections[using]
    if TABLE in connection.introspection.table_names():
        # Data migrations (and a flush, which empties the version table too) changed the data
        # without being tracked: a new token (the row recreated), and a new sequence value.
        with connection.cursor() as cursor:
            cursor.execute(_BUMP_SQL, [ROW_ID, secrets.token_hex(16)])
        bump(connection)


def connect_signals() -> None:
    """Track writes on every database connection (called from CoreConfig.ready)."""
    from django.db import connections

    connection_created.connect(_install, dispatch_uid="core.dataversion.install")
    for connection in connections.all(initialized_only=True):
        _install(None, connection)
    pre_migrate.connect(_migration_started, dispatch_uid="core.dataversion.pre_migrate")
    post_migrate.connect(_migration_finished, dispatch_uid="core.dataversion.post_migrate")
