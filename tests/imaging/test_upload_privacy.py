"""Uploads tell nothing about other sites and keep no file names unless asked (issue 20)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from imaging.models import Scan
from tests.factories import make_subject, make_visit
from tests.imaging.test_api import post_scan

pytestmark = pytest.mark.django_db


@pytest.fixture
def named_swi(phantom_files: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "DOE_JANE_MRN1234567_swi.nii.gz"
    shutil.copy(phantom_files["swi"], target)
    return target


def test_the_file_name_is_not_kept_by_default(api: Any, sites: Any, named_swi: Path) -> None:
    visit = make_visit(make_subject(site=sites["EDM"]), "V1")
    response = post_scan(api("coordinator"), visit, "swi", named_swi)
    assert response.status_code == 201, response.content
    assert response.json()["original_name"] == ""
    scan = Scan.objects.get()
    assert "DOE" not in scan.original_name and "DOE" not in scan.file.name
    assert not any("DOE" in str(h.original_name) for h in scan.history.all())


def test_a_study_may_ask_to_keep_file_names(
    api: Any, sites: Any, named_swi: Path, settings: Any
) -> None:
    settings.MOTORBAND_KEEP_UPLOAD_NAMES = True
    visit = make_visit(make_subject(site=sites["EDM"]), "V1")
    response = post_scan(api("coordinator"), visit, "swi", named_swi)
    assert response.json()["original_name"] == named_swi.name


def test_a_duplicate_at_another_site_is_not_named(
    api: Any, sites: Any, phantom_files: dict[str, Path]
) -> None:
    toronto = make_visit(make_subject(site=sites["TOR"]), "V1")
    first = post_scan(api("coord_tor"), toronto, "swi", phantom_files["swi"]).json()
    edmonton = make_visit(make_subject(site=sites["EDM"]), "V1")
    response = post_scan(api("coordinator"), edmonton, "swi", phantom_files["swi"])
    assert response.status_code == 400
    message = " ".join(response.json()["file"])
    assert "already uploaded, at another site" in message
    assert first["code"] not in message and "TOR" not in message


def test_a_duplicate_at_ones_own_site_is_named(
    api: Any, sites: Any, phantom_files: dict[str, Path]
) -> None:
    first_visit = make_visit(make_subject(site=sites["EDM"]), "V1")
    first = post_scan(api("coordinator"), first_visit, "swi", phantom_files["swi"]).json()
    other = make_visit(make_subject(site=sites["EDM"]), "V1")
    response = post_scan(api("coordinator"), other, "swi", phantom_files["swi"])
    assert response.status_code == 400
    assert first["code"] in " ".join(response.json()["file"])
