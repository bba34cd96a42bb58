"""Check that an answer of analysis.stats is plain JSON: Python numbers, None, never NaN."""

import json
import math
from typing import Any


def assert_plain_json(value: Any, path: str = "answer") -> None:
    """Walk dicts and lists; fail on NaN, infinity, numpy scalars or other non-JSON values."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), f"{path}: key {key!r} is not a string"
            assert_plain_json(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_plain_json(item, f"{path}[{index}]")
    elif isinstance(value, float):
        assert type(value) is float, f"{path}: {type(value).__name__} is not a Python float"
        assert math.isfinite(value), f"{path} is {value}"
    else:
        assert value is None or type(value) in (int, bool, str), (
            f"{path}: {type(value).__name__} is not a plain JSON value"
        )
    if path == "answer":
        json.dumps(value, allow_nan=False)
