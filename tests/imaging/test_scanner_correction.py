"""The coordinator confirms or corrects the scanner at upload and afterwards (issue 15, item 7)."""

# ruff: noqa: F811 (the replace pages' fixtures are imported and then requested by name)

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from imaging import services
from imaging.models import Scan
from tests.imaging.test_scan_replace_pages import (  # noqa: F401
    PASSWORD,
    VISIT_URL,
    client_for,
    edm_visit,
    swi,
)

pytestmark = pytest.mark.django_db
SCANNER_URL = f"{VISIT_URL}scans/{{code}}/scanner/"


def test_the_upload_form_takes_the_scanner(
    client_for: Callable[[str], Client], edm_visit: Any, phantom_files: dict[str, Path]
) -> None:
    with phantom_files["swi"].open("rb") as handle:
        response = client_for("coordinator").post(
            f"{VISIT_URL}scans/",
            {
                "kind": "swi",
                "file": handle,
                "field_strength": "3",
                "manufacturer": " Siemens ",
                "scanner_model": "MAGNETOM Prisma Fit",
            },
        )
    assert response.status_code == 302, response.content.decode()[-600:]
    scan = Scan.objects.get(visit=edm_visit, kind="swi")
    assert (scan.manufacturer, scan.scanner_model, scan.field_strength) == (
        "Siemens",
        "MAGNETOM Prisma Fit",
        3.0,
    )


def test_the_scanner_is_corrected_with_a_reason_and_audited(
    client_for: Callable[[str], Client], swi: Scan
) -> None:
    client = client_for("coordinator")
    url = SCANNER_URL.format(code=swi.code)
    page = client.get(url)
    assert page.status_code == 200 and "Save scanner" in page.content.decode()
    missing = client.post(url, {"manufacturer": "GE", "version": swi.version})
    assert missing.status_code == 400
    assert "Give a reason" in missing.content.decode()
    done = client.post(
        url,
        {
            "manufacturer": "GE",
            "scanner_model": "Discovery MR750",
            "field_strength": "3",
            "reason": "model confirmed by the site",
            "version": swi.version,
        },
    )
    assert done.status_code == 302
    swi.refresh_from_db()
    assert (swi.manufacturer, swi.scanner_model, swi.field_strength) == (
        "GE",
        "Discovery MR750",
        3.0,
    )
    latest = swi.history.first()
    assert latest.history_change_reason == "model confirmed by the site"
    assert latest.history_user.username == "coordinator"


def test_a_stale_version_keeps_what_was_typed(
    client_for: Callable[[str], Client], swi: Scan
) -> None:
    services.scan_scanner_set(swi, user=None, data={"manufacturer": "Philips"}, reason="first")
    response = client_for("coordinator").post(
        SCANNER_URL.format(code=swi.code),
        {"manufacturer": "GE", "reason": "second", "version": swi.version},
    )
    assert response.status_code == 400
    assert "Someone else changed this record" in response.content.decode()
    swi.refresh_from_db()
    assert swi.manufacturer == "Philips"


@pytest.mark.parametrize(("name", "status"), [("coord_tor", 404), ("investigator", 403)])
def test_only_the_sites_writers_correct(
    client_for: Callable[[str], Client], swi: Scan, name: str, status: int
) -> None:
    response = client_for(name).post(
        SCANNER_URL.format(code=swi.code), {"manufacturer": "GE", "reason": "x"}
    )
    assert response.status_code == status
    swi.refresh_from_db()
    assert swi.manufacturer != "GE"


def test_the_service_corrects_only_the_scanner(swi: Scan) -> None:
    with pytest.raises(ValidationError) as refused:
        services.scan_scanner_set(swi, user=None, data={"kind": "qsm"}, reason="x")
    assert "replace the scan" in " ".join(refused.value.message_dict["kind"])
