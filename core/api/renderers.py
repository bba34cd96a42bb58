"""JSON answers written with orjson where that gives what DRF's renderer gives (settings
``REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"]``).

A page of 500 visits is about 125 KB of JSON: DRF's renderer (the standard library's encoder with
DRF's ``default``) takes about 1 ms for it, orjson about 0.07 ms. orjson writes only the plain
values every answer is made of (dict, list, str, int, float, bool, None, UUID); anything else (a
date or datetime, Decimal, a lazy translation, an enum or other subclass such as DRF's
``ErrorDetail``, an integer beyond 64 bits, a non-text key), a pretty-printed answer
(``Accept: application/json; indent=4``, the browsable API) and settings other than DRF's compact
Unicode JSON go through DRF's own rendering, so those answers are byte for byte what they were.
Two differences remain, both still valid JSON of the same values: a float is written in its
shortest form without a redundant exponent sign or zero (``1e-5`` where the standard library
writes ``1e-05``), and a NaN or infinite float becomes ``null`` instead of failing the request
(DRF's strict JSON refuses them; no answer is meant to hold one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
from rest_framework import renderers

#: Values orjson would write differently from DRF (dates, datetimes, subclasses of str, int,
#: dict and list, dataclasses) reach ``_refuse`` instead, which sends the answer to DRF.
_ORJSON_OPTIONS: Final[int] = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
#: DRF escapes these two (JSON allows them raw, JavaScript did not); orjson does not.
_LINE_SEPARATORS: Final[tuple[bytes, bytes]] = ("\u2028".encode(), "\u2029".encode())


class _NotPlain(TypeError):
    """A value orjson is not trusted to write as DRF would."""


def _refuse(value: Any) -> Any:
    raise _NotPlain(type(value).__name__)


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, with orjson writing the answers made of plain values."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if (
            data is not None
            and self.compact
            and not self.ensure_ascii
            and self.get_indent(accepted_media_type or "", renderer_context or {}) is None
        ):
            try:
                written = orjson.dumps(data, default=_refuse, option=_ORJSON_OPTIONS)
            except TypeError:  # _NotPlain, or what orjson cannot write (big ints, other keys)
                pass
            else:
                if not any(separator in written for separator in _LINE_SEPARATORS):
                    return written
        return super().render(data, accepted_media_type, renderer_context)
