"""N4 bias-field correction asked for from the API (`?n4=true`) and the command (`--n4`)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from imaging.models import QuantificationRun
from tests.api.conftest import API
from tests.imaging.test_quantify_command import _scans

pytestmark = pytest.mark.django_db


def test_the_api_records_n4_with_the_run(api: Any, phantom_files: Any, tmp_path: Any) -> None:
    (scan,) = _scans(phantom_files, 1, tmp_path)
    client = api("admin")
    plain = client.post(f"{API}scans/{scan.pk}/quantify/")
    assert plain.status_code == 202, plain.content
    corrected = client.post(f"{API}scans/{scan.pk}/quantify/?n4=true")
    assert corrected.status_code == 202, corrected.content
    assert plain.json()["parameters"]["n4"] is False
    assert corrected.json()["parameters"]["n4"] is True
    assert QuantificationRun.objects.filter(scan=scan).count() == 2


def test_the_api_refuses_an_unclear_n4(api: Any, phantom_files: Any, tmp_path: Any) -> None:
    (scan,) = _scans(phantom_files, 1, tmp_path)
    response = api("admin").post(f"{API}scans/{scan.pk}/quantify/?n4=maybe")
    assert response.status_code == 400
    assert "n4" in response.json()
    assert not QuantificationRun.objects.exists()


def test_the_command_asks_for_n4(phantom_files: Any, tmp_path: Any, capsys: Any) -> None:
    (scan,) = _scans(phantom_files, 1, tmp_path)
    call_command("quantify", "--scan", str(scan.pk), "--n4")
    run = QuantificationRun.objects.get(scan=scan)
    assert run.parameters["n4"] is True
    assert "1 of 1 runs done" in capsys.readouterr().out
