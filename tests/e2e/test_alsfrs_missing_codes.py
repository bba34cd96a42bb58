"""The coordinator codes ALSFRS-R items as not done or unknown in a real browser: a contradiction is
refused with the entries kept, the saved form says why it has no total, and a whole form can be
marked not done with its reason."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from cohort.models import AlsfrsR
from tests.factories import make_subject, make_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Test-123!"


@pytest.fixture
def visits(users: dict[str, Any], sites: dict[str, Any]) -> dict[str, Any]:
    subject = make_subject(study_id="EDM-0001", site=sites["EDM"])
    return {"V1": make_visit(subject, "V1"), "V2": make_visit(subject, "V2")}


def test_items_coded_not_done_or_unknown_and_a_form_not_done(
    page: Any, live_server: Any, login: Any, screenshot: Any, visits: dict[str, Any]
) -> None:
    login("coordinator", PASSWORD)
    page.goto(f"{live_server.url}/subjects/EDM-0001/visits/V1/alsfrs/")
    for n in range(1, 13):
        page.get_by_label(re.compile(rf"^{n}\. ")).fill("4")
    # Item 8 keeps its score and gets a code as well: refused, the entries stay.
    page.get_by_label("Item 8 missing-data code").select_option("not_done")
    page.get_by_role("button", name="Save ALSFRS-R").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text(
        "Item 8 (Walking) has both a score and the code 'not done': keep one of them."
    )
    expect(page.get_by_label("8. Walking")).to_have_value("4")
    expect(page.get_by_label("Item 8 missing-data code")).to_have_value("not_done")
    screenshot("coordinator-alsfrs-code-and-score")
    # Item 3 left with neither score nor code: refused too.
    page.get_by_label("8. Walking").fill("")
    page.get_by_label("3. Swallowing").fill("")
    page.get_by_role("button", name="Save ALSFRS-R").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Give item 3 (Swallowing) a score (0-4), or mark it not done or unknown."
    )
    page.get_by_label("Item 3 missing-data code").select_option(label="Unknown (UNK)")
    # The live subtotals say what the server will: coded items leave domain and total empty.
    expect(page.get_by_test_id("live-total")).to_have_text(
        "— (not computed: 2 items not done or unknown)"
    )
    expect(page.locator("#sub-bulbar")).to_have_text("not computed (1 item not done or unknown)")
    screenshot("coordinator-alsfrs-codes")
    page.get_by_role("button", name="Save ALSFRS-R").click()
    expect(page.locator("ul.messages")).to_contain_text(
        "ALSFRS-R saved. Total not computed: item 3 (Swallowing) unknown; item 8 (Walking) not done."
    )
    expect(page.get_by_test_id("alsfrs-total-note")).to_have_text(
        "Total not computed: item 3 (Swallowing) unknown; item 8 (Walking) not done."
    )
    screenshot("coordinator-alsfrs-total-not-computed")
    form = AlsfrsR.objects.get(visit=visits["V1"])
    assert (form.q3_missing, form.q8_missing, form.total) == ("unknown", "not_done", None)

    # V2: the whole form was not done, with its reason.
    page.goto(f"{live_server.url}/subjects/EDM-0001/visits/V2/alsfrs/")
    page.get_by_role("group", name="ALSFRS-R at this visit").get_by_label(
        "Not done", exact=True
    ).check()
    page.get_by_role("button", name="Save ALSFRS-R").click()
    expect(page.get_by_role("alert")).to_contain_text("Say why the ALSFRS-R was not done")
    page.get_by_label("Reason the form was not done").fill("Subject could not attend")
    page.get_by_role("button", name="Save ALSFRS-R").click()
    expect(page.get_by_test_id("alsfrs-total-note")).to_have_text(
        "Total not computed: the form was not done (Subject could not attend)."
    )
    screenshot("coordinator-alsfrs-form-not-done")
    assert AlsfrsR.objects.get(visit=visits["V2"]).form_status == "not_done"
