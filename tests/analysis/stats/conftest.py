"""Fixtures of the pure statistics tests, which run without Django (``-p no:django``)."""

import pytest


@pytest.fixture(autouse=True)
def media_root() -> None:
    """Override tests/conftest.py's autouse fixture: it needs pytest-django's ``settings``, and
    these tests store no files."""
    return None
