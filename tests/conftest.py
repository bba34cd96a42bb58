"""Shared fixtures: the shared MRI data folder and one user per study role."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    """One user per role; the coordinator belongs to EDM only, coord_tor to TOR."""
    from cohort import services

    spec = {
        "coordinator": ("coordinator", ["EDM"]),
        "coord_tor": ("coordinator", ["TOR"]),
        "rater": ("rater", []),
        "investigator": ("investigator", []),
        "data_manager": ("data_manager", []),
        "admin": ("admin", []),
    }
    return {
        name: services.study_user_save(username=name, role=role, sites=s, password="pw-Test-123!")
        for name, (role, s) in spec.items()
    }
