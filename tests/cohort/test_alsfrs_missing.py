"""ALSFRS-R missing-data codes: per item not done / unknown, a whole form not done with its reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from cohort import scales, services
from cohort.models import AlsfrsR, Visit
from tests.factories import alsfrs_items, make_subject, make_visit

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Test-123!"
PAGE = "/subjects/EDM-0001/visits/V1/alsfrs/"


@pytest.fixture
def v1(sites: dict[str, Any]) -> Visit:
    return make_visit(make_subject(study_id="EDM-0001", site=sites["EDM"]), "V1")


@pytest.fixture
def coordinator(users: dict[str, Any]) -> Client:
    client = Client()
    assert client.login(username="coordinator", password=PASSWORD)
    return client


# --- pure rules -------------------------------------------------------------------------------


def test_total_note_names_each_item_without_a_score() -> None:
    items = {**dict.fromkeys(scales.ALSFRS_ITEMS, 4), "q8": None, "q3": None, "q12": None}
    missing = {"q8": "not_done", "q3": "unknown"}
    assert scales.alsfrs_total_note(items, missing) == (
        "Total not computed: item 3 (Swallowing) unknown; item 8 (Walking) not done; "
        "item 12 (Respiratory insufficiency) not entered."
    )
    assert scales.alsfrs_total_note(dict.fromkeys(scales.ALSFRS_ITEMS, 4), {}) == ""


def test_an_item_is_a_score_or_a_code_never_both_and_never_neither_when_required() -> None:
    items = {**dict.fromkeys(scales.ALSFRS_ITEMS, 4), "q2": None}
    both = scales.alsfrs_missing_errors(items, {"q1": "not_done"})
    assert both == {
        "q1": "Item 1 (Speech) has both a score and the code 'not done': keep one of them."
    }
    assert scales.alsfrs_missing_errors(items, {}) == {}  # an older client's empty item
    neither = scales.alsfrs_missing_errors(items, {}, require_every_item=True)
    assert neither == {
        "q2": "Give item 2 (Salivation) a score (0-4), or mark it not done or unknown."
    }
    bad = scales.alsfrs_missing_errors(items, {"q2": "skipped"})
    assert bad == {"q2_missing": "must be one of not_done, unknown (got skipped)."}


def test_a_form_not_done_needs_a_reason_and_no_scores() -> None:
    empty = dict.fromkeys(scales.ALSFRS_ITEMS)
    errors = scales.alsfrs_missing_errors(empty, {}, form_status="not_done")
    assert errors == {
        "not_done_reason": "Say why the ALSFRS-R was not done (e.g. the subject refused)."
    }
    scored = scales.alsfrs_missing_errors(
        {**empty, "q4": 3}, {"q5": "unknown"}, form_status="not_done", not_done_reason="refused"
    )
    assert set(scored) == {"q4", "q5"}
    assert "item 4 (Handwriting) takes no score or code" in scored["q4"]
    assert scales.alsfrs_missing_errors(
        dict.fromkeys(scales.ALSFRS_ITEMS, 4), {}, not_done_reason="refused"
    ) == {"not_done_reason": "Only a form that was not done takes a reason: clear it."}


# --- service ----------------------------------------------------------------------------------


def test_a_coded_item_leaves_its_domain_the_total_and_delta_fs_empty(v1: Visit) -> None:
    complete = services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q1=3))
    assert complete.total == 47 and complete.delta_fs is not None and complete.total_note == ""
    form = services.alsfrs_save(
        user=None,
        visit=v1,
        items=alsfrs_items(q1=3, q8=None, q8_missing="not_done"),
        expected_version=complete.version,
        reason="walking test not done",
    )
    form.refresh_from_db()
    assert form.q8 is None and form.q8_missing == "not_done"
    assert form.total is None and form.gross_motor is None and form.delta_fs is None
    assert form.bulbar == 11 and form.fine_motor == 12 and form.respiratory == 12
    assert form.total_note == "Total not computed: item 8 (Walking) not done."


def test_service_refuses_a_score_with_a_code(v1: Visit) -> None:
    with pytest.raises(ValidationError) as caught:
        services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q7_missing="unknown"))
    assert caught.value.message_dict == {
        "q7": [
            "Item 7 (Turning in bed and adjusting bed clothes) has both a score and the code "
            "'unknown': keep one of them."
        ]
    }
    assert not AlsfrsR.objects.exists()


def test_service_requires_every_item_only_when_asked(v1: Visit) -> None:
    with pytest.raises(ValidationError) as caught:
        services.alsfrs_save(
            user=None, visit=v1, items=alsfrs_items(q10=None), require_every_item=True
        )
    assert list(caught.value.message_dict) == ["q10"]
    assert not AlsfrsR.objects.exists()
    # Older API clients may still leave an item empty: the total then stays undefined.
    form = services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q10=None))
    assert form.total is None and form.total_note.endswith("item 10 (Dyspnea) not entered.")


def test_a_form_not_done_is_stored_with_its_reason_and_no_total(v1: Visit) -> None:
    form = services.alsfrs_save(
        user=None,
        visit=v1,
        items={"form_status": "not_done", "not_done_reason": "Subject could not attend"},
        require_every_item=True,
    )
    form.refresh_from_db()
    assert form.form_status == "not_done" and form.not_done_reason == "Subject could not attend"
    assert form.total is None and form.bulbar is None and form.delta_fs is None
    assert form.total_note == (
        "Total not computed: the form was not done (Subject could not attend)."
    )
    with pytest.raises(ValidationError) as caught:
        services.alsfrs_save(
            user=None,
            visit=v1,
            items={"form_status": "not_done", "not_done_reason": "", "q1": 4},
            expected_version=form.version,
            reason="re-entered",
        )
    assert set(caught.value.message_dict) == {"q1", "not_done_reason"}


# --- page -------------------------------------------------------------------------------------


def _page_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {**alsfrs_items(), "q5_gastrostomy": "", "form_status": "done"}
    data.update({f: "" for f in scales.ALSFRS_MISSING_FIELDS.values()})
    data.update(overrides)
    return data


def test_page_offers_a_code_per_item_and_the_form_status(v1: Visit, coordinator: Client) -> None:
    html = coordinator.get(PAGE).content.decode()
    for item in scales.ALSFRS_ITEMS:
        assert f'name="{item}_missing"' in html
    assert '<option value="not_done">Not done (ND)</option>' in html
    assert '<option value="unknown">Unknown (UNK)</option>' in html
    assert 'name="form_status"' in html and 'name="not_done_reason"' in html


def test_page_saves_a_code_and_says_why_the_total_is_missing(
    v1: Visit, coordinator: Client
) -> None:
    response = coordinator.post(PAGE, _page_data(q8="", q8_missing="not_done"), follow=True)
    assert response.redirect_chain
    form = AlsfrsR.objects.get(visit=v1)
    assert form.q8_missing == "not_done" and form.total is None and form.gross_motor is None
    html = response.content.decode()
    assert "ALSFRS-R saved. Total not computed: item 8 (Walking) not done." in html
    assert 'data-testid="alsfrs-total-note"' in html


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"q8": "", "q8_missing": ""},
            "Give item 8 (Walking) a score (0-4), or mark it not done or unknown.",
        ),
        (
            {"q8": "3", "q8_missing": "unknown"},
            "Item 8 (Walking) has both a score and the code &#x27;unknown&#x27;: keep one of them.",
        ),
    ],
    ids=["neither", "both"],
)
def test_page_refuses_an_item_with_neither_or_both_and_keeps_the_entries(
    v1: Visit, coordinator: Client, overrides: dict[str, str], message: str
) -> None:
    response = coordinator.post(PAGE, _page_data(q2="2", q11_missing="", **overrides))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    form = response.context["form"]
    assert form["q2"].value() == "2" and form["q8_missing"].value() == overrides["q8_missing"]
    assert not AlsfrsR.objects.filter(visit=v1).exists()


def test_page_marks_the_whole_form_not_done(v1: Visit, coordinator: Client) -> None:
    empty = {item: "" for item in scales.ALSFRS_ITEMS}
    response = coordinator.post(PAGE, _page_data(**empty, form_status="not_done"))
    assert response.status_code == 400
    assert "Say why the ALSFRS-R was not done" in response.content.decode()
    response = coordinator.post(
        PAGE, _page_data(**empty, form_status="not_done", not_done_reason="Refused"), follow=True
    )
    form = AlsfrsR.objects.get(visit=v1)
    assert form.form_status == "not_done" and form.total is None
    assert "Total not computed: the form was not done (Refused)." in response.content.decode()


def test_page_shows_the_saved_codes_again(v1: Visit, coordinator: Client) -> None:
    services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q3=None, q3_missing="unknown"))
    response = coordinator.get(PAGE)
    form = response.context["form"]
    assert form.initial["q3_missing"] == "unknown" and form.initial["q3"] is None
    html = response.content.decode()
    assert '<option value="unknown" selected>Unknown (UNK)</option>' in html
    assert "Total not computed: item 3 (Swallowing) unknown." in html
