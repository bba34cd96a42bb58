"""A user's role: read from their groups (one plain query) with the precedence the pages use."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from core import roles

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([], None),
        (["coordinator"], "coordinator"),
        (["rater", "investigator"], "investigator"),
        (["assessor", "data_manager", "rater"], "data_manager"),
        (["admin", "coordinator"], "admin"),
        (["a group that is no role"], None),
    ],
)
def test_the_role_is_read_from_the_groups(groups: list[str], expected: str | None) -> None:
    user = User.objects.create_user(username="someone", password="pw-Long-enough-1")
    other = User.objects.create_user(username="other", password="pw-Long-enough-2")
    other.groups.set([Group.objects.get_or_create(name="admin")[0]])
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in groups])
    assert roles._group_names(user.pk) == set(user.groups.values_list("name", flat=True))
    fresh = User.objects.get(pk=user.pk)
    assert roles.role_of(fresh) == expected


def test_an_inactive_or_superuser_needs_no_groups() -> None:
    inactive = User.objects.create_user(username="gone", password="pw-Long-enough-3")
    inactive.groups.set([Group.objects.get_or_create(name="admin")[0]])
    inactive.is_active = False
    inactive.save()
    assert roles.role_of(User.objects.get(pk=inactive.pk)) is None
    root = User.objects.create_superuser(username="root", password="pw-Long-enough-4")
    assert roles.role_of(User.objects.get(pk=root.pk)) == roles.ADMIN
