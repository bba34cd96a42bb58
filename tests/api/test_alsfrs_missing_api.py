"""The ALSFRS-R resource's missing-data fields: per item ``q<n>_missing``, ``form_status``,
``not_done_reason`` and the read-only ``total_note``; clients that send only scores keep working."""

from __future__ import annotations

from typing import Any

import pytest

from cohort import scales
from cohort.models import AlsfrsR
from tests.api.conftest import API
from tests.factories import alsfrs_items

pytestmark = pytest.mark.django_db

NEW_FIELDS = {
    *(f"q{n}_missing" for n in range(1, 13)),
    "form_status",
    "not_done_reason",
    "total_note",
}


def _scores(**overrides: Any) -> dict[str, Any]:
    """The twelve scores and the gastrostomy flag, as an older client sends them."""
    return alsfrs_items(**overrides)


def test_a_form_read_through_the_api_has_the_new_fields(api: Any, world: Any) -> None:
    form = world["EDM"].alsfrs
    body = api("coordinator").get(f"{API}alsfrs/{form.pk}/").json()
    assert set(body) >= NEW_FIELDS
    assert body["q8_missing"] is None and body["form_status"] == "done"
    assert body["not_done_reason"] == "" and body["total_note"] == "" and body["total"] == 48


def test_an_old_client_sending_only_scores_keeps_working(api: Any, world: Any) -> None:
    v2 = world["EDM"].v2
    created = api("coordinator").post(
        f"{API}alsfrs/", {"visit": v2.pk, **_scores(q2=3)}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["total"] == 47 and body["q2_missing"] is None and body["form_status"] == "done"
    # A partial update with scores only leaves the codes alone.
    updated = api("coordinator").patch(
        f"{API}alsfrs/{body['id']}/", {"q2": 2, "reason": "re-scored"}, format="json"
    )
    assert updated.status_code == 200 and updated.json()["total"] == 46


def test_a_code_instead_of_a_score(api: Any, world: Any) -> None:
    v2 = world["EDM"].v2
    data = {"visit": v2.pk, **_scores(q8=None), "q8_missing": "not_done"}
    created = api("coordinator").post(f"{API}alsfrs/", data, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["q8"] is None and body["q8_missing"] == "not_done"
    assert body["total"] is None and body["gross_motor"] is None and body["bulbar"] == 12
    assert body["total_note"] == "Total not computed: item 8 (Walking) not done."


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"q8_missing": "unknown"},
            "q8",
            "Item 8 (Walking) has both a score and the code 'unknown': keep one of them.",
        ),
        ({"q8": None, "q8_missing": "skipped"}, "q8_missing", '"skipped" is not a valid choice.'),
        (
            {"form_status": "not_done", "not_done_reason": "refused"},
            "q1",
            "The form is marked not done, so item 1 (Speech) takes no score or code: clear it, "
            "or mark the form done.",
        ),
    ],
    ids=["both", "unknown-code", "scores-on-a-form-not-done"],
)
def test_contradictions_are_refused_with_the_field_named(
    api: Any, world: Any, data: dict[str, Any], field: str, message: str
) -> None:
    v2 = world["EDM"].v2
    response = api("coordinator").post(
        f"{API}alsfrs/", {"visit": v2.pk, **_scores(), **data}, format="json"
    )
    assert response.status_code == 400
    assert message in response.json()[field]
    assert not AlsfrsR.objects.filter(visit=v2).exists()


def test_a_form_not_done_with_its_reason(api: Any, world: Any) -> None:
    v2 = world["EDM"].v2
    data = {
        "visit": v2.pk,
        "form_status": "not_done",
        "not_done_reason": "Subject could not attend",
        **dict.fromkeys(scales.ALSFRS_ITEMS),
    }
    created = api("coordinator").post(f"{API}alsfrs/", data, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["form_status"] == "not_done" and body["total"] is None
    assert body["total_note"] == (
        "Total not computed: the form was not done (Subject could not attend)."
    )
    missing_reason = api("coordinator").patch(
        f"{API}alsfrs/{body['id']}/", {"not_done_reason": "", "reason": "x"}, format="json"
    )
    assert missing_reason.status_code == 400
    assert "Say why the ALSFRS-R was not done" in missing_reason.json()["not_done_reason"][0]
