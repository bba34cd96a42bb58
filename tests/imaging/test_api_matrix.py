"""Permission matrix of the imaging endpoints: every role × an EDM and a TOR scan × every action.

Like tests/api/test_permissions.py for the cohort: a scan outside the caller's sites answers 404
and never appears in a list; raters (blinded) get 403 on scans and runs; investigators only read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import pytest

from imaging import band, services
from tests.api.conftest import API
from tests.factories import make_subject, make_visit
from tests.imaging.test_services import upload

pytestmark = pytest.mark.django_db

ACTIONS = ["list", "retrieve", "download", "quantify", "runs", "run", "qc", "delete"]


def _row(*codes: int) -> dict[str, int]:
    return dict(zip(ACTIONS, codes, strict=True))


ALL = _row(200, 200, 200, 200, 200, 200, 200, 204)
READ_ONLY = _row(200, 200, 200, 403, 200, 200, 200, 403)
OUT_OF_SCOPE = _row(200, 404, 404, 404, 200, 404, 404, 404)
EXPECTED = {
    None: {"EDM": _row(*[401] * 8), "TOR": _row(*[401] * 8)},
    "coordinator": {"EDM": ALL, "TOR": OUT_OF_SCOPE},
    "coord_tor": {"EDM": OUT_OF_SCOPE, "TOR": ALL},
    "rater": {"EDM": _row(*[403] * 8), "TOR": _row(*[403] * 8)},
    "investigator": {"EDM": READ_ONLY, "TOR": READ_ONLY},
    "data_manager": {"EDM": ALL, "TOR": ALL},
    "admin": {"EDM": ALL, "TOR": ALL},
}


@pytest.fixture
def scans(sites: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A quantified SWI (with its label map) at each site."""
    found = {}
    for seed, code in enumerate(("EDM", "TOR")):
        phantom = band.make_phantom(
            (48, 48, 48),
            (2.0, 2.0, 2.0),
            band_contrast=0.1,
            noise_sd=2.0,
            rotation_deg=5.0 * seed,
            seed=seed,
        )
        visit = make_visit(make_subject(site=sites[code]), "V1")
        paths = {}
        for kind, image in (("swi", phantom.swi), ("labels", phantom.labels)):
            paths[kind] = tmp_path / f"{code}_{kind}.nii.gz"
            nib.save(image, paths[kind])
        swi = upload(visit, "swi", paths["swi"])
        upload(visit, "labels", paths["labels"])
        run, _ = services.run_request(user=None, scan=swi, enqueue=False)
        found[code] = (swi, services.run_execute(run.pk))
    return found


def _status(client: Any, action: str, scan: Any, run: Any) -> tuple[int, bool | None]:
    """Status of one action, and for lists whether the record was listed."""
    if action == "list":
        response = client.get(f"{API}scans/", {"page_size": 500})
        listed = response.status_code == 200 and scan.pk in [
            r["id"] for r in response.json()["results"]
        ]
        return response.status_code, listed
    if action == "runs":
        response = client.get(f"{API}quantifications/", {"page_size": 500})
        listed = response.status_code == 200 and run.pk in [
            r["id"] for r in response.json()["results"]
        ]
        return response.status_code, listed
    paths = {
        "retrieve": ("get", f"{API}scans/{scan.pk}/"),
        "download": ("get", f"{API}scans/{scan.pk}/download/"),
        "quantify": ("post", f"{API}scans/{scan.pk}/quantify/"),
        "run": ("get", f"{API}quantifications/{run.pk}/"),
        "qc": ("get", f"{API}quantifications/{run.pk}/qc.png/"),
        "delete": ("delete", f"{API}scans/{scan.pk}/"),
    }
    method, path = paths[action]
    return getattr(client, method)(path).status_code, None


@pytest.mark.parametrize("role", list(EXPECTED))
def test_imaging_permission_matrix(role, api, scans, django_capture_on_commit_callbacks):
    client = api(role)
    leaks = []
    for site in ("EDM", "TOR"):
        swi, run = scans[site]
        for action in ACTIONS:
            with django_capture_on_commit_callbacks(execute=True):
                status, listed = _status(client, action, swi, run)
            expected = EXPECTED[role][site][action]
            assert status == expected, (role, site, action, status)
            if listed is not None and status == 200:
                own = EXPECTED[role][site]["retrieve"] == 200
                if listed != own:
                    leaks.append((role, site, action))
    assert leaks == []
