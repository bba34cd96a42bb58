"""The one audited write path: every service that writes clinical or imaging data saves here.

``save`` and ``delete`` validate the row (``full_clean``), lock it, refuse a stale version, bump
the version, and record who made the change and why in the row's django-simple-history trail.
Services decide *what* changes (and the rules across rows); this module decides *how* a change is
written, once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models.deletion import ProtectedError, RestrictedError

from core.roles import Acting, history_user

M = TypeVar("M", bound=models.Model)

VERSION_FIELD = "version"


class ConcurrencyError(Exception):
    """The record changed since the caller read it (its version moved on)."""

    def __init__(self, instance: models.Model, expected: int) -> None:
        self.instance = instance
        self.expected = expected
        self.current: int = getattr(instance, VERSION_FIELD)
        super().__init__(
            f"This {instance._meta.verbose_name} was changed by someone else since you opened it "
            f"(your version {expected}, now {self.current}). Reload it and apply your change again."
        )


def _versioned(model: type[models.Model]) -> bool:
    return any(f.name == VERSION_FIELD for f in model._meta.concrete_fields)


def lock(instance: M, *, expected_version: int | None = None) -> M:
    """The row re-read under a row lock (inside the caller's transaction), its version checked.

    ``expected_version`` is the version the caller last read; a different current version raises
    ConcurrencyError. None means the caller did not say (last writer wins).
    """
    current = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
    check_version(current, expected_version)
    return current


def check_version(current: models.Model, expected_version: int | None) -> None:
    if expected_version is not None and getattr(current, VERSION_FIELD) != expected_version:
        raise ConcurrencyError(current, expected_version)


def assign(instance: models.Model, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Set fields from ``data``, refusing any field the service does not let its callers set."""
    allowed = set(allowed)
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in sorted(unknown)})
    for name, value in data.items():
        setattr(instance, name, value)


def _mark(instance: models.Model, *, user: Acting, reason: str) -> None:
    # django-simple-history reads these two attributes when it writes the history row.
    instance._history_user = history_user(user)  # type: ignore[attr-defined]
    instance._change_reason = reason or None  # type: ignore[attr-defined]


@transaction.atomic
def save(
    instance: M,
    *,
    user: Acting,
    reason: str = "",
    expected_version: int | None = None,
    validate: bool = True,
    exclude: Iterable[str] = (),
    update_fields: Iterable[str] | None = None,
) -> M:
    """Validate and write one row with its audit record; return it.

    A new row starts at version 1. An existing row is locked and its version compared with
    ``expected_version`` (or, when the caller names none, with the version the instance was read
    at): a row changed by someone else in between raises ConcurrencyError instead of being
    overwritten. The version is then bumped. ``exclude`` names fields ``full_clean`` skips (a file
    not yet stored, say); ``validate=False`` is for bookkeeping fields only (a read superseded).
    """
    model = type(instance)
    versioned = _versioned(model)
    creating = instance._state.adding or instance.pk is None
    if not creating and versioned:
        current = (
            model._default_manager.select_for_update()
            .filter(pk=instance.pk)
            .values_list(VERSION_FIELD, flat=True)
            .first()
        )
        if current is None:
            raise ValidationError(
                f"This {model._meta.verbose_name} no longer exists: someone deleted it."
            )
        expected = expected_version if expected_version is not None else instance.version  # type: ignore[attr-defined]
        if current != expected:
            setattr(instance, VERSION_FIELD, current)
            raise ConcurrencyError(instance, expected)
    if validate:
        instance.full_clean(exclude=list(exclude) or None)
    if not creating and versioned:
        setattr(instance, VERSION_FIELD, getattr(instance, VERSION_FIELD) + 1)
    _mark(instance, user=user, reason=reason)
    try:
        # A savepoint: a refused row leaves the caller's transaction usable.
        with transaction.atomic():
            if update_fields is not None:
                fields = list(update_fields)
                if versioned and not creating:
                    fields.append(VERSION_FIELD)
                instance.save(update_fields=fields)
            else:
                instance.save()
    except IntegrityError as error:
        raise _conflict(instance, error) from error
    return instance


def _conflict(instance: models.Model, error: IntegrityError) -> ValidationError:
    """A uniqueness rule another request satisfied first (the database refused the row): the
    model's own validation now names it; otherwise say so in general words."""
    try:
        instance.full_clean()
    except ValidationError as named:
        return named
    return ValidationError(
        f"This {instance._meta.verbose_name} conflicts with one saved at the same moment by "
        f"someone else ({error.__class__.__name__}); reload and check before saving again."
    )


class RecordInUse(ValidationError):
    """A row cannot be deleted while others refer to it (a protected foreign key); the message
    says which. The API answers it 409; pages show it like any refusal."""


def referenced_message(objects: Iterable[models.Model], subject: str = "This record") -> str:
    """``"Visit EDM-001 V1 cannot be deleted while 1 scan (SCN-1) refers to it: ..."``."""
    objects = list(objects)
    counts = Counter(type(obj)._meta for obj in objects)
    parts = []
    for meta, count in counts.items():
        noun = meta.verbose_name if count == 1 else meta.verbose_name_plural
        names = [str(obj) for obj in objects if type(obj)._meta is meta][:3]
        more = ", ..." if count > len(names) else ""
        parts.append(f"{count} {noun} ({', '.join(names)}{more})")
    refer = "refers" if len(objects) == 1 else "refer"
    return (
        f"{subject} cannot be deleted while {' and '.join(parts)} {refer} to it: delete or "
        "replace those first, or keep this record."
    )


@transaction.atomic
def delete(
    instance: models.Model,
    *,
    user: Acting,
    reason: str = "",
    expected_version: int | None = None,
) -> None:
    """Delete one row, its audit record naming who and why; a stale version is refused, and so is
    a row others still refer to (RecordInUse, naming them)."""
    if expected_version is not None and _versioned(type(instance)):
        lock(instance, expected_version=expected_version)
    _mark(instance, user=user, reason=reason)
    try:
        instance.delete()
    except (ProtectedError, RestrictedError) as error:
        objects = (
            getattr(error, "protected_objects", None)
            or getattr(error, "restricted_objects", None)
            or ()
        )
        subject = f"{str(instance._meta.verbose_name).capitalize()} {instance}"
        raise RecordInUse(referenced_message(objects, subject)) from error
