"""King's and MiToS stages stored on each visit follow the ALSFRS-R and the events."""

from __future__ import annotations

import datetime as dt

from cohort import services
from cohort.models import Visit
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit

API = "/api/v1/"


def stages(visit: Visit) -> tuple[str | None, int | None, bool | None, bool | None]:
    visit.refresh_from_db()
    return (
        visit.kings_stage,
        visit.mitos_stage,
        visit.kings_nutritional_failure,
        visit.kings_respiratory_failure,
    )


def test_stages_follow_the_form_and_the_events(sites, api):
    subject = make_subject(site=sites["EDM"])
    v1 = make_visit(subject, "V1", ENROLLED)
    v2 = make_visit(subject, "V2", ENROLLED + dt.timedelta(days=120))
    assert stages(v1) == (None, None, None, None)  # no ALSFRS-R: not staged

    services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q1=3, q8=3))
    assert stages(v1) == ("2", 0, False, False)  # bulbar and lower limb involved
    form = services.alsfrs_save(user=None, visit=v2, items=alsfrs_items(q1=1, q4=1, q8=1, q12=2))
    # King's: q12 <= 3 is respiratory failure (4b); MiToS: communicating (q1, q4 <= 1),
    # movement (q8 <= 1) and breathing (q12 <= 2) lost.
    assert stages(v2) == ("4b", 3, False, True)

    gastrostomy = services.event_create(
        user=None, subject=subject, kind="gastrostomy", date=ENROLLED + dt.timedelta(days=60)
    )
    assert stages(v1)[0] == "2"  # after V1: V1 unchanged
    services.alsfrs_save(
        user=None,
        visit=v2,
        items=alsfrs_items(q1=1, q4=1, q8=1),
        expected_version=form.version,
        reason="item 12 entered wrongly",
    )
    assert stages(v2) == ("4a", 2, True, False)  # gastrostomy before V2
    services.event_delete(gastrostomy, user=None, reason="wrong subject")
    assert stages(v2) == ("3", 2, False, False)

    body = api("coordinator").get(f"{API}visits/{v2.pk}/").json()
    assert body["kings_stage"] == "3" and body["mitos_stage"] == 2
    assert body["kings_nutritional_failure"] is False
