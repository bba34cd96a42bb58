"""API answers written with orjson are DRF's JSON: the same bytes for plain values, DRF's own
rendering for everything else."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from typing import Any

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail

from core.api.renderers import JSONRenderer

PLAIN: list[Any] = [
    {"count": 30000, "next": "http://testserver/api/v1/visits/?page=2", "results": []},
    [{"study_id": "EDM-0001", "visit": "V1", "score": 42, "ratio": 0.1202, "ok": True}],
    {"text": "Zoë's ALSFRS-R — 5b “gastrostomy”", "nothing": None, "nested": [[1, 2], {"a": []}]},
    {"id": uuid.UUID("12345678-1234-5678-1234-567812345678"), "negative": -7, "zero": 0.0},
    {"big": 2**63 - 1, "float": 1234.5678, "small": 0.25, "tiny": -3.5},
    [],
    {},
    "a string",
    17,
]
#: Values the fast path must hand to DRF (whose output differs from orjson's or needs its encoder).
NOT_PLAIN: list[Any] = [
    {"when": dt.datetime(2026, 11, 30, 5, 0, tzinfo=dt.UTC)},
    {"day": dt.date(2026, 11, 30)},
    {"at": dt.time(12, 30)},
    {"amount": decimal.Decimal("1.50")},
    {"label": gettext_lazy("Visit")},
    {"error": [ErrorDetail("This field is required.", code="required")]},
    {"huge": 2**70},
    {1: "integer key"},
    {"line": "one\u2028two"},
]


def _drf(data: Any, media_type: str | None = None, context: dict[str, Any] | None = None) -> bytes:
    return renderers.JSONRenderer().render(data, media_type, context)


@pytest.mark.parametrize("data", PLAIN)
def test_plain_answers_are_drfs_bytes(data: Any) -> None:
    assert JSONRenderer().render(data) == _drf(data)


@pytest.mark.parametrize("data", NOT_PLAIN)
def test_other_values_go_through_drf(data: Any) -> None:
    assert JSONRenderer().render(data) == _drf(data)


def test_indented_answers_go_through_drf() -> None:
    data = {"a": [1, 2]}
    media = "application/json; indent=4"
    assert JSONRenderer().render(data, media) == _drf(data, media)
    assert JSONRenderer().render(data, None, {"indent": 2}) == _drf(data, None, {"indent": 2})


def test_floats_keep_their_values() -> None:
    data = {"values": [1e-05, 1e20, 2.5e-300, -0.0, 0.1 + 0.2, 123456789.123456789]}
    written = JSONRenderer().render(data)
    assert json.loads(written) == json.loads(_drf(data))
    assert [math.copysign(1.0, v) for v in json.loads(written)["values"]][3] == -1.0


def test_none_is_an_empty_body() -> None:
    assert JSONRenderer().render(None) == b""


def test_the_api_answers_through_it() -> None:
    from rest_framework.settings import api_settings

    assert api_settings.DEFAULT_RENDERER_CLASSES[0] is JSONRenderer
