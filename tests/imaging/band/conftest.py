"""Fixtures of the motor band engine tests: the shared real MRI files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Read-only folder of real MRI files described in ``shared/data/SOURCES.md``."""
    path = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared MRI data not found at {path}")
    return path
