"""A .nii.gz must not inflate beyond what its header declares: a bomb behind a modest header is
refused before it is decompressed whole, in one gzip member or in many (issue 20)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from imaging.band import VolumeError, load_volume
from imaging.band.io import TRAILING_BYTES_ALLOWED


def _header(shape: tuple[int, int, int]) -> bytes:
    header = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)).header.copy()
    header.set_data_dtype(np.float32)
    header.set_data_shape(shape)
    header.set_zooms((1.0, 1.0, 1.0))
    return bytes(header.binaryblock) + b"\0" * 4


def _image_bytes(shape: tuple[int, int, int]) -> bytes:
    rng = np.random.default_rng(4)
    return rng.normal(100, 10, shape).astype(np.float32).tobytes(order="F")


def _member(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


SHAPE = (32, 32, 32)
PAYLOAD = 64 * 1024**2  # zeros hidden after the declared 128 KiB of image data


def test_a_bomb_after_the_image_in_one_member_is_refused_without_inflating_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bomb.nii.gz"
    with gzip.open(path, "wb") as out:
        out.write(_header(SHAPE) + _image_bytes(SHAPE))
        for _ in range(PAYLOAD // 1024**2):
            out.write(bytes(1024**2))
    tracemalloc.start()
    with pytest.raises(VolumeError, match="more data than its header declares"):
        load_volume(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 16 * 1024**2  # never the 64 MiB payload


def test_a_bomb_in_later_gzip_members_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "members.nii.gz"
    zeros = _member(bytes(8 * 1024**2))
    path.write_bytes(_member(_header(SHAPE) + _image_bytes(SHAPE)) + zeros * 8)
    with pytest.raises(VolumeError, match="more data than its header declares"):
        load_volume(path)


def test_an_image_with_a_little_padding_after_its_data_is_read(tmp_path: Path) -> None:
    data = np.random.default_rng(5).normal(100, 10, SHAPE).astype(np.float32)
    plain = tmp_path / "plain.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), plain)
    path = tmp_path / "padded.nii.gz"
    path.write_bytes(_member(plain.read_bytes() + bytes(TRAILING_BYTES_ALLOWED // 2)))
    np.testing.assert_array_equal(np.asarray(load_volume(path).data, np.float32), data)
