"""Property tests of the upload validators: any damaged file is a ValidationError, never a crash.

Hypothesis mutates a valid small NIfTI (truncation, byte flips in the header, wrong magic, absurd
dimensions, NaN/Inf voxels, damaged gzip) and builds hostile ZIPs (`../` members, nested archives,
declared sizes far beyond the limit); every outcome must be either a validated volume or a
django ValidationError naming the file, and the private work folder must not leak files.
"""

from __future__ import annotations

import gzip
import io
import struct
import tempfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imaging import services

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def _valid_nifti() -> bytes:
    data = np.random.default_rng(0).normal(100, 10, (12, 10, 8)).astype(np.float32)
    image = nib.Nifti1Image(data, np.diag([1.0, 1.0, 1.5, 1.0]))
    return image.to_bytes()


VALID = _valid_nifti()


def _inspect(payload: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            services.inspect_upload(io.BytesIO(payload), name=name, kind="swi", workdir=Path(tmp))
        except ValidationError as exc:
            assert exc.message_dict, "a refusal must name its field"
            messages = " ".join(m for ms in exc.message_dict.values() for m in ms)
            assert tmp not in messages, "messages must not leak server paths"


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(VALID) - 1), compress=st.booleans())
def test_truncated_files(cut: int, compress: bool) -> None:
    payload = VALID[:cut]
    if compress:
        payload = gzip.compress(VALID)[: max(1, cut // 4)]
    _inspect(payload, "cut.nii.gz" if compress else "cut.nii")


@FUZZ
@given(
    flips=st.lists(
        st.tuples(st.integers(min_value=0, max_value=351), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=8,
    )
)
def test_corrupted_headers(flips: list[tuple[int, int]]) -> None:
    payload = bytearray(VALID)
    for offset, value in flips:
        payload[offset] = value
    _inspect(bytes(payload), "flipped.nii")


@FUZZ
@given(
    dims=st.lists(st.integers(min_value=-(2**15), max_value=2**15 - 1), min_size=8, max_size=8),
    pixdims=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=8, max_size=8
    ),
)
def test_absurd_dimensions_and_voxel_sizes(dims: list[int], pixdims: list[float]) -> None:
    payload = bytearray(VALID)
    payload[40:56] = struct.pack("<8h", *dims)
    payload[76:108] = struct.pack("<8f", *pixdims)
    _inspect(bytes(payload), "dims.nii")


@FUZZ
@given(
    value=st.sampled_from([np.inf, -np.inf]),
    where=st.tuples(st.integers(0, 11), st.integers(0, 9), st.integers(0, 7)),
)
def test_infinite_voxels_are_refused(value: float, where: tuple[int, int, int]) -> None:
    data = np.ones((12, 10, 8), dtype=np.float32)
    data[where] = value
    payload = nib.Nifti1Image(data, np.eye(4)).to_bytes()
    with pytest.raises(ValidationError) as exc, tempfile.TemporaryDirectory() as tmp:
        services.inspect_upload(io.BytesIO(payload), name="nan.nii", kind="swi", workdir=Path(tmp))
    assert "infinite" in " ".join(exc.value.message_dict["file"])


@pytest.mark.parametrize("magic", [b"n+2\x00", b"ni1\x00", b"\x00\x00\x00\x00", b"PK\x03\x04"])
def test_wrong_magic(magic: bytes) -> None:
    payload = bytearray(VALID)
    payload[344:348] = magic
    _inspect(bytes(payload), "magic.nii")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@FUZZ
@given(
    name=st.sampled_from(
        ["../evil.dcm", "a/../../evil.dcm", "/etc/evil.dcm", "ok/../../../x", "..\\\\win.dcm"]
    ),
    content=st.binary(min_size=0, max_size=64),
)
def test_zip_traversal_is_refused(name: str, content: bytes) -> None:
    with pytest.raises(ValidationError), tempfile.TemporaryDirectory() as tmp:
        services.inspect_upload(
            io.BytesIO(_zip({name: content})), name="series.zip", kind="swi", workdir=Path(tmp)
        )


def test_nested_zip_is_refused() -> None:
    inner = _zip({"a.dcm": b"x" * 10})
    with pytest.raises(ValidationError) as exc, tempfile.TemporaryDirectory() as tmp:
        services.inspect_upload(
            io.BytesIO(_zip({"inner.zip": inner})), name="nested.zip", kind="swi", workdir=Path(tmp)
        )
    assert "itself an archive" in " ".join(exc.value.message_dict["file"])


def test_zip_declaring_a_huge_size_is_refused_before_extraction() -> None:
    payload = bytearray(_zip({"big.dcm": b"\x00" * 1000}))
    # Patch the central directory's uncompressed size to 3 GiB.
    central = payload.rfind(b"PK\x01\x02")
    payload[central + 24 : central + 28] = struct.pack("<I", 3 * 1024**3)
    with pytest.raises(ValidationError), tempfile.TemporaryDirectory() as tmp:
        services.inspect_upload(
            io.BytesIO(bytes(payload)), name="bomb.zip", kind="swi", workdir=Path(tmp)
        )


def test_upload_size_limit(settings) -> None:
    settings.MOTORBAND_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(ValidationError) as exc, tempfile.TemporaryDirectory() as tmp:
        services.inspect_upload(io.BytesIO(VALID), name="big.nii", kind="swi", workdir=Path(tmp))
    assert "upload limit" in " ".join(exc.value.message_dict["file"])
