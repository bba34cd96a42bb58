"""Self-scoping querysets (core.scoping) and the acting user (core.roles.Actor)."""

from __future__ import annotations

import pytest

from cohort.models import AlsfrsR, ClinicalEvent, Site, Subject, UmnExam, Visit
from core import roles
from core.roles import SYSTEM, Actor, actor_of
from core.scoping import site_of
from imaging.models import QuantificationRun, Scan
from tests.factories import make_subject, make_visit

SITE_BOUND = (Site, Subject, Visit, UmnExam, AlsfrsR, ClinicalEvent, Scan, QuantificationRun)


@pytest.fixture
def two_sites(users, sites):
    edm = make_subject(site=sites["EDM"])
    tor = make_subject(site=sites["TOR"])
    return {"EDM": make_visit(edm), "TOR": make_visit(tor)}


def test_every_site_bound_model_scopes_itself():
    for model in SITE_BOUND:
        assert hasattr(model, "SITE_LOOKUP"), model
        assert hasattr(model.objects, "visible_to"), model


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("coordinator", {"EDM"}),
        ("coord_tor", {"TOR"}),
        ("investigator", {"EDM", "TOR"}),
        ("data_manager", {"EDM", "TOR"}),
        ("admin", {"EDM", "TOR"}),
        ("rater", set()),
    ],
)
def test_visible_to_follows_role_and_sites(users, two_sites, who, expected):
    user = users[who]
    visits = Visit.objects.visible_to(user)
    assert {v.subject.site.code for v in visits} == expected
    assert {s.site.code for s in Subject.objects.visible_to(user)} == expected
    assert {s.code for s in Site.objects.visible_to(user)} == expected
    # The same answer for the user and for the Actor built from them.
    assert set(Visit.objects.visible_to(actor_of(user))) == set(visits)


@pytest.mark.django_db
def test_anonymous_and_system_see_nothing(two_sites):
    from django.contrib.auth.models import AnonymousUser

    assert not Visit.objects.visible_to(AnonymousUser()).exists()
    assert not Visit.objects.visible_to(None).exists()
    assert not Visit.objects.visible_to(SYSTEM).exists()


@pytest.mark.django_db
def test_writable_by_is_narrower_than_visible_to(users, two_sites):
    assert Visit.objects.writable_by(users["investigator"]).count() == 0
    assert Visit.objects.visible_to(users["investigator"]).count() == 2
    assert [v.subject.site.code for v in Visit.objects.writable_by(users["coordinator"])] == ["EDM"]


@pytest.mark.django_db
def test_site_of_follows_the_lookup(two_sites, sites):
    assert site_of(two_sites["TOR"]) == sites["TOR"].pk
    assert site_of(two_sites["TOR"].subject) == sites["TOR"].pk


@pytest.mark.django_db
def test_actor_of_a_user(users, sites):
    actor = actor_of(users["coordinator"])
    assert isinstance(actor, Actor)
    assert actor.role == roles.COORDINATOR and actor.site_ids == frozenset({sites["EDM"].pk})
    assert actor.may_write_site(sites["EDM"].pk) and not actor.may_write_site(sites["TOR"].pk)
    assert actor_of(users["investigator"]).site_ids is None
    assert not actor_of(users["investigator"]).may_write_site(sites["EDM"].pk)
    assert actor_of(actor) is actor
    assert actor_of(None) is SYSTEM and SYSTEM.username == "system"


@pytest.mark.django_db
def test_new_membership_is_seen_by_the_next_call(users, sites):
    """Memberships are read at each call, so a change takes effect without a new login."""
    from cohort import services

    user = users["coordinator"]
    assert not Visit.objects.none().exists()
    services.study_user_save(username=user.username, role="coordinator", sites=["EDM", "TOR"])
    assert actor_of(user).site_ids == frozenset({sites["EDM"].pk, sites["TOR"].pk})
