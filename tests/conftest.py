"""Shared fixtures: the shared MRI data folder and one user per study role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"The shared MRI data folder is missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def sites(db):
    from tests.factories import make_site

    return {"EDM": make_site("EDM", "Edmonton"), "TOR": make_site("TOR", "Toronto")}


@pytest.fixture
def users(sites):
    """One user per role; the coordinator belongs to EDM only, coord_tor to TOR; the assessor sets
    the reference standard blinded."""
    from cohort import services

    spec = {
        "coordinator": ("coordinator", ["EDM"]),
        "coord_tor": ("coordinator", ["TOR"]),
        "rater": ("rater", []),
        "investigator": ("investigator", []),
        "data_manager": ("data_manager", []),
        "admin": ("admin", []),
        "assessor": ("assessor", []),
    }
    return {
        name: services.study_user_save(username=name, role=role, sites=s, password="pw-Test-123!")
        for name, (role, s) in spec.items()
    }


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test stores its files in its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Autouse fixtures run before `users`: the many users of these tests then cost nothing to hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api(users: dict[str, Any]) -> Callable[[str | None], APIClient]:
    """``api("coordinator")`` is a client authenticated with that user's token; ``api(None)`` is
    anonymous."""

    def client_for(name: str | None) -> APIClient:
        client = APIClient()
        if name is not None:
            _, key = AuthToken.objects.create(user=users[name])
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return client_for
