"""Answers of the analyses kept while the data they depend on have not changed.

An answer is stored in Django's cache under a key made of the analysis's name, its normalized
parameters, the caller's scope (role and sites: answers are scoped and blinded), the data version
(``core.dataversion``: any change to the study's data draws a new one), today's date, and the
method version (a digest of the analysis code and the versions of the numerical libraries). A
change to any of them makes a new key, so an answer is never served from other data, another scope
or other code; old entries simply expire. Refusals (too few subjects, an unknown level) are kept
too: computing them costs as much as an answer.

Values are pickled here, so every caller gets its own copy to change at will, and an answer too
large to keep is computed every time rather than filling the cache.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import pickle
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from django.core.cache import cache

from core import dataversion, roles
from core.roles import Acting

log = logging.getLogger(__name__)

T = TypeVar("T")

KEY_PREFIX = "motorband:answer:"
#: How long an answer is kept (seconds); a changed version or code makes it unreachable sooner.
TIMEOUT_S = 24 * 3600
#: Answers larger than this (pickled bytes) are not kept.
MAX_BYTES = 64 * 1024 * 1024
#: The code whose changes change the answers, relative to the project root.
METHOD_SOURCES = ("analysis", "cohort/scales.py", "cohort/schedule.py", "core/scoping.py")
LIBRARIES = ("numpy", "pandas", "scipy", "statsmodels", "lifelines", "plotly", "scikit-learn")
#: What an analysis refuses with; the same data and parameters give the same refusal.
REFUSALS = (ValueError,)

_ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def method_version() -> str:
    """A digest of the analysis code and the numerical libraries' versions."""
    digest = hashlib.sha256()
    for name in METHOD_SOURCES:
        path = _ROOT / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if "migrations" in file.parts:
                continue
            digest.update(str(file.relative_to(_ROOT)).encode())
            digest.update(file.read_bytes())
    for library in LIBRARIES:
        try:
            digest.update(f"{library}=={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library} absent".encode())
    return digest.hexdigest()[:16]


def scope(user: Acting) -> list[Any]:
    """What limits the caller's answers: their role (blinding) and their sites."""
    actor = roles.actor_of(user)
    sites = "all" if actor.site_ids is None else sorted(actor.site_ids)
    return [actor.role, sites]


def _plain(value: Any) -> Any:
    """Parameters as JSON: dataclasses as dicts, tuples and sets as lists, the rest as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return f"{type(value).__name__}:{value}"


def key(name: str, *, user: Acting, params: Mapping[str, Any], version: str) -> str:
    """The cache key of an answer (a digest: any part may be long)."""
    parts = [
        name,
        _plain(params),
        scope(user),
        version,
        dt.date.today().isoformat(),
        method_version(),
    ]
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return KEY_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def answer(name: str, *, user: Acting, params: Mapping[str, Any], compute: Callable[[], T]) -> T:
    """The answer of ``compute()`` for these parameters and this caller, computed once per state
    of the data; a refusal (ValueError and its kind) is raised again as it was first raised."""
    version = dataversion.current()
    if version is None:
        return compute()
    cache_key = key(name, user=user, params=params, version=version)
    stored = cache.get(cache_key)
    if stored is not None:
        try:
            kind, value = pickle.loads(stored)
        except Exception:  # a damaged or foreign entry is recomputed
            log.warning("Unreadable cached answer for %s; computing it again.", name)
        else:
            if kind == "refusal":
                raise value
            return value
    try:
        value = compute()
    except REFUSALS as exc:
        _store(cache_key, ("refusal", exc), name)
        raise
    _store(cache_key, ("answer", value), name)
    return value


def _store(cache_key: str, entry: tuple[str, Any], name: str) -> None:
    try:
        data = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an answer that cannot be pickled is not kept
        log.warning("The answer of %s cannot be kept in the cache.", name)
        return
    if len(data) > MAX_BYTES:
        log.info("The answer of %s is too large to keep (%d bytes).", name, len(data))
        return
    cache.set(cache_key, data, TIMEOUT_S)
