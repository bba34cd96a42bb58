"""Conversion of numpy scalars to the plain Python numbers the API serializes (never NaN)."""

import math
from typing import Any


def as_float(value: Any) -> float | None:
    """Return ``value`` as a Python float, or None where it is missing, NaN or infinite.

    JSON has no NaN or infinity, and an undefined estimate must read as "not available" rather
    than as a number.
    """
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return number


def as_floats(values: Any) -> list[float | None]:
    """Return a sequence as a list of Python floats (None for NaN or infinity)."""
    return [as_float(v) for v in values]
