"""Correction pages: edit and delete subjects, visits, forms and events with a reason, the stale
version message, role and site permissions, CSRF, and the history pages that show it all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from cohort import services
from cohort.models import AlsfrsR, ClinicalEvent, Subject, UmnExam, Visit
from core.models import AccessAction, AccessEvent
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Test-123!"
STALE = "Someone else changed this record since you opened it"


@pytest.fixture
def world(users: dict[str, Any], sites: dict[str, Any]) -> dict[str, Any]:
    """An EDM subject with V1 (UMN + ALSFRS-R) and V2, a gastrostomy event; a TOR subject."""
    edm = make_subject(study_id="EDM-0001", site=sites["EDM"])
    v1 = make_visit(edm, "V1")
    v2 = make_visit(edm, "V2")
    services.umn_exam_save(user=None, visit=v1, items=umn_items(5))
    services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q1=3))
    event = services.event_create(
        user=None, subject=edm, kind="gastrostomy", date=ENROLLED + dt.timedelta(days=200)
    )
    tor = make_subject(study_id="TOR-0001", site=sites["TOR"])
    make_visit(tor, "V1")
    return {"edm": edm, "v1": v1, "v2": v2, "event": event, "tor": tor}


@pytest.fixture
def client_for(users: dict[str, Any]) -> Callable[[str], Client]:
    def make(name: str, **kwargs: Any) -> Client:
        client = Client(**kwargs)
        assert client.login(username=name, password=PASSWORD)
        return client

    return make


def _subject_post(subject: Subject, **overrides: Any) -> dict[str, Any]:
    """The subject edit form as the page sends it back, unchanged unless overridden."""
    data = {
        "study_id": subject.study_id,
        "site": subject.site.code,
        "group": subject.group,
        "sex": subject.sex,
        "birth_date": subject.birth_date.isoformat(),
        "handedness": subject.handedness,
        "onset_date": subject.onset_date.isoformat() if subject.onset_date else "",
        "onset_region": subject.onset_region or "",
        "diagnosis_date": subject.diagnosis_date.isoformat() if subject.diagnosis_date else "",
        "enrolled_on": subject.enrolled_on.isoformat(),
        "last_known_alive": "",
        "comment": subject.comment,
        "version": subject.version,
        "reason": "",
    }
    data.update(overrides)
    return data


# --- subjects ---------------------------------------------------------------------------------


def test_coordinator_corrects_sex_with_a_reason_and_the_history_shows_it(
    world: Any, client_for: Any
) -> None:
    client = client_for("coordinator")
    page = client.get("/subjects/EDM-0001/edit/")
    assert page.status_code == 200
    assert 'name="version"' in page.content.decode()
    response = client.post(
        "/subjects/EDM-0001/edit/",
        _subject_post(world["edm"], sex="M", reason="Sex entered wrongly at screening"),
    )
    assert response.status_code == 302
    subject = Subject.objects.get(pk=world["edm"].pk)
    assert subject.sex == "M"
    assert subject.version == world["edm"].version + 1
    last = subject.history.latest()
    assert last.history_change_reason == "Sex entered wrongly at screening"
    assert last.history_user.username == "coordinator"

    history = client.get(f"/subjects/EDM-0001/history/subject/{subject.pk}/")
    text = history.content.decode()
    assert history.status_code == 200
    assert "Sex entered wrongly at screening" in text
    assert "Female → Male" in text
    assert "coordinator" in text
    assert AccessEvent.objects.filter(
        action=AccessAction.VIEW_IDENTIFIABLE,
        target="subject:EDM-0001",
        detail__page="history",
        detail__record=f"subject:{subject.pk}",
    ).exists()


def test_a_correction_needs_a_reason_and_keeps_what_was_typed(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    response = client.post(
        "/subjects/EDM-0001/edit/",
        _subject_post(world["edm"], sex="M", comment="Checked against the consent form"),
    )
    assert response.status_code == 400
    assert "reason" in response.context["form"].errors
    text = response.content.decode()
    assert "Checked against the consent form" in text
    assert '<option value="M" selected>' in text
    assert Subject.objects.get(pk=world["edm"].pk).sex == "F"


def test_a_model_rule_comes_back_on_the_field(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    response = client.post(
        "/subjects/EDM-0001/edit/",
        _subject_post(world["edm"], onset_date="", reason="onset unknown"),
    )
    assert response.status_code == 400
    assert "need a symptom onset date" in str(response.context["form"].errors["onset_date"])


def test_a_stale_version_is_refused_with_a_clear_message(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    opened = _subject_post(world["edm"], sex="M", reason="Sex entered wrongly")
    # Someone else corrects the record after this user opened the page.
    services.subject_update(
        world["edm"], user=None, data={"handedness": "L"}, reason="other correction"
    )
    response = client.post("/subjects/EDM-0001/edit/", opened)
    assert response.status_code == 400
    text = response.content.decode()
    assert STALE in text
    subject = Subject.objects.get(pk=world["edm"].pk)
    assert subject.sex == "F" and subject.handedness == "L"
    # The page now carries the current version: saving again (after checking) applies the change.
    assert response.context["form"].data["version"] == str(subject.version)
    again = client.post("/subjects/EDM-0001/edit/", {**opened, "version": subject.version})
    assert again.status_code == 302
    assert Subject.objects.get(pk=subject.pk).sex == "M"


def test_another_sites_coordinator_gets_404_and_an_investigator_403(
    world: Any, client_for: Any
) -> None:
    data = _subject_post(world["edm"], sex="M", reason="x")
    tor = client_for("coord_tor")
    for url in (
        "/subjects/EDM-0001/edit/",
        "/subjects/EDM-0001/delete/",
        f"/subjects/EDM-0001/events/{world['event'].pk}/edit/",
        f"/subjects/EDM-0001/events/{world['event'].pk}/delete/",
        "/subjects/EDM-0001/visits/V2/delete/",
        "/subjects/EDM-0001/visits/V1/umn/delete/",
        "/subjects/EDM-0001/visits/V1/alsfrs/delete/",
        "/subjects/EDM-0001/history/",
        f"/subjects/EDM-0001/history/subject/{world['edm'].pk}/",
    ):
        assert tor.get(url).status_code == 404, url
    assert tor.post("/subjects/EDM-0001/edit/", data).status_code == 404
    investigator = client_for("investigator")
    for url in (
        "/subjects/EDM-0001/edit/",
        "/subjects/EDM-0001/delete/",
        f"/subjects/EDM-0001/events/{world['event'].pk}/edit/",
        "/subjects/EDM-0001/visits/V2/delete/",
        "/subjects/EDM-0001/visits/V1/umn/delete/",
    ):
        assert investigator.get(url).status_code == 403, url
    assert investigator.post("/subjects/EDM-0001/edit/", data).status_code == 403
    assert investigator.post("/subjects/EDM-0001/delete/", {"reason": "x"}).status_code == 403
    assert Subject.objects.get(pk=world["edm"].pk).sex == "F"
    # Reading the history is theirs; the rater (blinded) and the assessor see none of it.
    assert investigator.get("/subjects/EDM-0001/history/").status_code == 200
    assert client_for("rater").get("/subjects/EDM-0001/history/").status_code == 403
    assert client_for("assessor").get("/subjects/EDM-0001/history/").status_code == 403


def test_subject_page_links_to_corrections_and_history(world: Any, client_for: Any) -> None:
    text = client_for("coordinator").get("/subjects/EDM-0001/").content.decode()
    assert "/subjects/EDM-0001/edit/" in text
    assert "/subjects/EDM-0001/history/" in text
    assert f"/subjects/EDM-0001/events/{world['event'].pk}/edit/" in text
    assert f"/subjects/EDM-0001/history/event/{world['event'].pk}/" in text
    read_only = client_for("investigator").get("/subjects/EDM-0001/").content.decode()
    assert "/subjects/EDM-0001/edit/" not in read_only
    assert "/subjects/EDM-0001/history/" in read_only


def test_deleting_a_subject_asks_first_then_needs_a_reason(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    confirm = client.get("/subjects/EDM-0001/delete/")
    assert confirm.status_code == 200
    assert "2 visit(s)" in confirm.content.decode()
    assert Subject.objects.filter(study_id="EDM-0001").exists()
    refused = client.post("/subjects/EDM-0001/delete/", {"version": world["edm"].version})
    assert refused.status_code == 400
    assert Subject.objects.filter(study_id="EDM-0001").exists()
    done = client.post(
        "/subjects/EDM-0001/delete/",
        {"version": world["edm"].version, "reason": "Withdrew consent for data use"},
    )
    assert done.status_code == 302 and done["Location"] == "/subjects/"
    assert not Subject.objects.filter(study_id="EDM-0001").exists()
    assert not Visit.objects.filter(subject_id=world["edm"].pk).exists()
    gone = Subject.history.filter(id=world["edm"].pk).latest()
    assert gone.history_type == "-"
    assert gone.history_change_reason == "Withdrew consent for data use"


def test_deletes_need_a_csrf_token(world: Any, users: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="coordinator", password=PASSWORD)
    response = client.post(
        f"/subjects/EDM-0001/events/{world['event'].pk}/delete/",
        {"version": world["event"].version, "reason": "duplicate"},
    )
    assert response.status_code == 403
    assert ClinicalEvent.objects.filter(pk=world["event"].pk).exists()


# --- events -----------------------------------------------------------------------------------


def test_event_correction_and_deletion_stay_in_the_subject_history(
    world: Any, client_for: Any
) -> None:
    client = client_for("coordinator")
    event = world["event"]
    url = f"/subjects/EDM-0001/events/{event.pk}/edit/"
    assert client.get(url).status_code == 200
    new_date = ENROLLED + dt.timedelta(days=210)
    no_reason = client.post(
        url, {"kind": "gastrostomy", "date": new_date, "comment": "", "version": event.version}
    )
    assert no_reason.status_code == 400
    assert ClinicalEvent.objects.get(pk=event.pk).date == event.date
    response = client.post(
        url,
        {
            "kind": "gastrostomy",
            "date": new_date.isoformat(),
            "comment": "",
            "version": event.version,
            "reason": "Date of PEG from the surgery note",
        },
    )
    assert response.status_code == 302
    assert ClinicalEvent.objects.get(pk=event.pk).date == new_date

    stale = client.post(
        f"/subjects/EDM-0001/events/{event.pk}/delete/",
        {"version": event.version, "reason": "entered twice"},
    )
    assert stale.status_code == 400
    assert STALE in stale.content.decode()
    assert ClinicalEvent.objects.filter(pk=event.pk).exists()
    deleted = client.post(
        f"/subjects/EDM-0001/events/{event.pk}/delete/",
        {"version": event.version + 1, "reason": "entered twice"},
    )
    assert deleted.status_code == 302
    assert not ClinicalEvent.objects.filter(pk=event.pk).exists()

    history = client.get("/subjects/EDM-0001/history/")
    assert history.status_code == 200
    entries = [e for e in history.context["page"].object_list if e.kind == "event"]
    assert [e.action for e in entries] == ["Deleted", "Changed", "Created"]
    assert entries[0].reason == "entered twice"
    assert entries[1].reason == "Date of PEG from the surgery note"
    assert [(c.old, c.new) for c in entries[1].changes] == [
        (event.date.isoformat(), new_date.isoformat())
    ]
    text = history.content.decode()
    assert "Record deleted" in text and "entered twice" in text
    # The deleted event's own history is still reachable.
    own = client.get(f"/subjects/EDM-0001/history/event/{event.pk}/")
    assert own.status_code == 200
    assert "Deleted" in own.content.decode()


# --- visits and their forms -------------------------------------------------------------------


def test_visit_deletion_follows_the_service_rules(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    v1 = world["v1"]
    baseline = client.post(
        "/subjects/EDM-0001/visits/V1/delete/", {"version": v1.version, "reason": "wrong"}
    )
    assert baseline.status_code == 400
    assert "Delete the follow-up visits before the baseline visit" in baseline.content.decode()
    assert Visit.objects.filter(pk=v1.pk).exists()

    v2 = world["v2"]
    response = client.post(
        "/subjects/EDM-0001/visits/V2/delete/",
        {"version": v2.version, "reason": "Visit entered for the wrong subject"},
    )
    assert response.status_code == 302
    assert not Visit.objects.filter(pk=v2.pk).exists()
    history = client.get(f"/subjects/EDM-0001/history/visit/{v2.pk}/")
    assert history.status_code == 200
    assert "Visit entered for the wrong subject" in history.content.decode()


def test_clinical_forms_are_deleted_with_a_reason(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    v1 = world["v1"]
    page = client.get("/subjects/EDM-0001/visits/V1/").content.decode()
    assert "/subjects/EDM-0001/visits/V1/umn/delete/" in page
    assert f"/subjects/EDM-0001/history/visit/{v1.pk}/" in page
    umn = UmnExam.objects.get(visit=v1)
    refused = client.post("/subjects/EDM-0001/visits/V1/umn/delete/", {"version": umn.version})
    assert refused.status_code == 400
    assert UmnExam.objects.filter(pk=umn.pk).exists()
    done = client.post(
        "/subjects/EDM-0001/visits/V1/umn/delete/",
        {"version": umn.version, "reason": "Exam belonged to another visit"},
    )
    assert done.status_code == 302
    assert not UmnExam.objects.filter(pk=umn.pk).exists()

    alsfrs = AlsfrsR.objects.get(visit=v1)
    done = client.post(
        "/subjects/EDM-0001/visits/V1/alsfrs/delete/",
        {"version": alsfrs.version, "reason": "Scored by an untrained rater"},
    )
    assert done.status_code == 302
    assert not AlsfrsR.objects.filter(pk=alsfrs.pk).exists()
    trail = client.get("/subjects/EDM-0001/history/").context["page"].object_list
    deleted = {(e.kind, e.reason) for e in trail if e.deleted}
    assert ("umn", "Exam belonged to another visit") in deleted
    assert ("alsfrs", "Scored by an untrained rater") in deleted
    assert client.get("/subjects/EDM-0001/visits/V1/umn/delete/").status_code == 404


def test_a_record_of_another_subject_is_not_in_this_history(world: Any, client_for: Any) -> None:
    client = client_for("investigator")
    tor = world["tor"]
    assert client.get(f"/subjects/EDM-0001/history/subject/{tor.pk}/").status_code == 404
    tor_visit = Visit.objects.get(subject=tor)
    assert client.get(f"/subjects/EDM-0001/history/visit/{tor_visit.pk}/").status_code == 404
    assert client.get(f"/subjects/EDM-0001/history/nothing/{tor.pk}/").status_code == 404


def test_a_coordinator_cannot_move_a_subject_to_a_site_not_theirs(
    world: Any, client_for: Any
) -> None:
    response = client_for("coordinator").post(
        "/subjects/EDM-0001/edit/", _subject_post(world["edm"], site="TOR", reason="moved")
    )
    assert response.status_code == 400
    assert "site" in response.context["form"].errors
    assert Subject.objects.get(pk=world["edm"].pk).site.code == "EDM"


def test_saving_without_a_change_writes_nothing(world: Any, client_for: Any) -> None:
    before = world["edm"].history.count()
    response = client_for("coordinator").post(
        "/subjects/EDM-0001/edit/", _subject_post(world["edm"], reason="checked")
    )
    assert response.status_code == 400
    assert "You changed nothing" in response.content.decode()
    assert world["edm"].history.count() == before
