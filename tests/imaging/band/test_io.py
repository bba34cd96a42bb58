"""Loading, validation and DICOM conversion, on real files and deliberately broken ones."""

from __future__ import annotations

import gzip
import math
import shutil
import stat
import struct
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from imaging.band import (
    VolumeError,
    check_label_map,
    check_overlap,
    convert_dicom_zip,
    load_label_map,
    load_volume,
    make_phantom,
    quantify_files,
)


def save(data: np.ndarray, path: Path, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), path)
    return path


# ---------------------------------------------------------------- real files


def test_freesurfer_bert_quantifies_in_both_hemispheres(shared_data: Path) -> None:
    bert = shared_data / "freesurfer-bert"
    result = quantify_files(bert / "norm.mgz", bert / "aparc+aseg.mgz")
    assert len(result.measurements) == 10  # L, R × whole, leg, hand, face, paracentral
    for row in result.measurements:
        assert row["reason"] is None, row
        for key in ("band_contrast", "band_extent", "laminar_contrast", "deep_mean"):
            assert row[key] is not None and math.isfinite(row[key]), (row, key)
        assert row["n_voxels"] >= 50


def test_mgz_metadata(shared_data: Path) -> None:
    volume = load_volume(shared_data / "freesurfer-bert" / "norm.mgz")
    assert volume.data.dtype == np.float32
    assert volume.metadata["shape"] == [256, 256, 256]
    assert volume.metadata["voxel_size"] == [1.0, 1.0, 1.0]
    labels = load_label_map(shared_data / "freesurfer-bert" / "aparc+aseg.mgz")
    assert labels.data.dtype.kind == "i"
    assert np.count_nonzero(labels.data == 1024) == 14_435


def test_nifti_with_bids_sidecar_metadata(shared_data: Path) -> None:
    volume = load_volume(shared_data / "siemens-xa30-gre" / "nifti" / "8_gre_field_mapping_e2.nii")
    assert volume.metadata["shape"] == [64, 64, 33]
    assert volume.metadata["field_strength"] == 3.0
    assert volume.metadata["manufacturer"] == "Siemens"
    assert volume.metadata["echo_time"] == pytest.approx(12.46)  # ms
    np.testing.assert_allclose(volume.voxel_size_mm, (3.375, 3.375, 3.4), atol=1e-3)


def test_multi_echo_needs_an_echo(shared_data: Path) -> None:
    path = shared_data / "gre-3echo-crop" / "Mag.nii.gz"
    with pytest.raises(VolumeError, match="3 echoes"):
        load_volume(path)
    volume = load_volume(path, echo=0)
    assert volume.data.shape == (51, 51, 41)
    raw = np.asanyarray(nib.load(path).dataobj)
    np.testing.assert_array_equal(volume.data, raw[..., 0].astype(np.float32))
    with pytest.raises(VolumeError, match="echo 3"):
        load_volume(path, echo=3)


def zip_dicoms(shared_data: Path, tmp_path: Path) -> Path:
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for dicom in sorted((shared_data / "siemens-xa30-gre" / "dicom").glob("*.dcm")):
            zf.write(dicom, f"DICOM/{dicom.name}")
    return archive


def test_dicom_zip_converts_to_the_reference_nifti(shared_data: Path, tmp_path: Path) -> None:
    produced = convert_dicom_zip(zip_dicoms(shared_data, tmp_path), tmp_path / "out")
    assert [p.name for p in produced] == [
        "8_gre_field_mapping_e1.nii",
        "8_gre_field_mapping_e2.nii",
    ]
    reference_dir = shared_data / "siemens-xa30-gre" / "nifti"
    for nifti in produced:
        assert nifti.with_suffix(".json").is_file()
        ours, reference = nib.load(nifti), nib.load(reference_dir / nifti.name)
        np.testing.assert_allclose(ours.affine, reference.affine)
        np.testing.assert_array_equal(np.asanyarray(ours.dataobj), np.asanyarray(reference.dataobj))
    assert load_volume(produced[0]).metadata["echo_time"] == pytest.approx(10.0)


# ---------------------------------------------------------------- broken volumes


def test_nan_is_kept_and_counted(tmp_path: Path) -> None:
    # QSM and CLEARSWI write NaN outside their brain mask: where it matters is decided against
    # the label map (tests/imaging/band/test_input_kinds.py), not on loading.
    data = np.ones((8, 8, 8), dtype=np.float32)
    data[1, 2, 3] = np.nan
    volume = load_volume(save(data, tmp_path / "nan.nii.gz"))
    assert np.isnan(volume.data[1, 2, 3])
    assert volume.metadata["nan_voxels"] == 1


def test_infinity_and_all_nan_are_refused(tmp_path: Path) -> None:
    data = np.ones((8, 8, 8), dtype=np.float32)
    data[1, 2, 3] = np.inf
    with pytest.raises(VolumeError, match="1 voxels are infinite"):
        load_volume(save(data, tmp_path / "inf.nii.gz"))
    with pytest.raises(VolumeError, match="every voxel is NaN"):
        load_volume(save(np.full((8, 8, 8), np.nan, np.float32), tmp_path / "allnan.nii.gz"))


def test_five_dimensions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="5 dimensions"):
        load_volume(save(np.ones((4, 4, 4, 2, 2), dtype=np.float32), tmp_path / "5d.nii.gz"))


def test_several_volumes_are_refused(tmp_path: Path) -> None:
    path = save(np.ones((4, 4, 4, 5), dtype=np.float32), tmp_path / "4d.nii.gz")
    with pytest.raises(VolumeError, match="5 echoes/volumes"):
        load_volume(path)


def test_single_volume_4d_is_accepted(tmp_path: Path) -> None:
    path = save(np.ones((4, 4, 4, 1), dtype=np.int16), tmp_path / "4d1.nii.gz")
    assert load_volume(path).data.shape == (4, 4, 4)


def test_not_a_nifti_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.nii.gz"
    path.write_bytes(gzip.compress(b"this is not an image" * 40))
    with pytest.raises(VolumeError, match="not a readable NIfTI"):
        load_volume(path)
    text = tmp_path / "report.pdf"
    text.write_bytes(b"%PDF-1.4")
    with pytest.raises(VolumeError, match="not a NIfTI or MGZ file"):
        load_volume(text)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = save(np.ones((16, 16, 16), dtype=np.float32), tmp_path / "cut.nii")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(VolumeError, match="truncated"):
        load_volume(path)


def test_absurd_voxel_size_is_refused(tmp_path: Path) -> None:
    path = save(
        np.ones((4, 4, 4), dtype=np.float32), tmp_path / "m.nii", np.diag([0.001] * 3 + [1])
    )
    with pytest.raises(VolumeError, match="voxel size"):
        load_volume(path)


def test_singular_affine_is_refused(tmp_path: Path) -> None:
    affine = np.eye(4)
    affine[:3, :3] = [[1, 1, 0], [1, 1, 0], [0, 0, 1]]  # two parallel voxel axes
    header = nib.Nifti1Header()
    header.set_sform(affine, code=2)  # the sform alone may hold any matrix
    nib.save(
        nib.Nifti1Image(np.ones((4, 4, 4), dtype=np.float32), None, header), tmp_path / "flat.nii"
    )
    assert np.allclose(nib.load(tmp_path / "flat.nii").affine, affine)
    with pytest.raises(VolumeError, match="singular"):
        load_volume(tmp_path / "flat.nii")


def test_label_map_without_precentral_is_refused(tmp_path: Path) -> None:
    data = np.full((8, 8, 8), 2, dtype=np.int16)
    data[:4] = 1022
    path = save(data, tmp_path / "dseg.nii.gz")
    with pytest.raises(VolumeError, match="precentral"):
        load_label_map(path)
    with pytest.raises(VolumeError, match="precentral"):
        check_label_map(data)


def test_non_integer_label_map_is_refused(tmp_path: Path) -> None:
    data = np.full((8, 8, 8), 1024.5, dtype=np.float32)
    with pytest.raises(VolumeError, match="non-integer"):
        load_label_map(save(data, tmp_path / "float.nii.gz"))


def test_label_map_not_overlapping_swi_is_refused(tmp_path: Path) -> None:
    swi, labels = make_phantom((48, 48, 48), (2.0, 2.0, 2.0))
    far = labels.affine.copy()
    far[:3, 3] += 500.0  # another subject's space: 50 cm away
    nib.save(swi, tmp_path / "swi.nii.gz")
    nib.save(nib.Nifti1Image(np.asanyarray(labels.dataobj), far), tmp_path / "dseg.nii.gz")
    with pytest.raises(VolumeError, match="does not overlap"):
        check_overlap(
            load_volume(tmp_path / "swi.nii.gz"), load_label_map(tmp_path / "dseg.nii.gz")
        )
    with pytest.raises(VolumeError, match="does not overlap"):
        quantify_files(tmp_path / "swi.nii.gz", tmp_path / "dseg.nii.gz")


# ---------------------------------------------------------------- hostile ZIPs


def test_zip_with_parent_traversal_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("DICOM/ok.dcm", b"x")
        zf.writestr("../../etc/cron.d/evil", b"x")
    with pytest.raises(VolumeError, match=r"\.\."):
        convert_dicom_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_with_absolute_path_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "abs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("/tmp/evil.dcm"), b"x")
    with pytest.raises(VolumeError, match="absolute"):
        convert_dicom_zip(archive, tmp_path / "out")


def test_zip_with_symlink_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("DICOM/link.dcm")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(VolumeError, match="symbolic link"):
        convert_dicom_zip(archive, tmp_path / "out")


def test_nested_zip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "nested.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner.zip", b"PK\x05\x06" + b"\x00" * 18)
    with pytest.raises(VolumeError, match="itself an archive"):
        convert_dicom_zip(archive, tmp_path / "out")


def test_zip_bomb_by_declared_size_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DICOM/big.dcm", b"\x00" * 1000)
    raw = bytearray(archive.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 24 : central + 28] = struct.pack("<I", 3 * 1024**3)  # declares 3 GiB
    archive.write_bytes(bytes(raw))
    with pytest.raises(VolumeError, match="ZIP bomb"):
        convert_dicom_zip(archive, tmp_path / "out")


def test_zip_bomb_by_compression_ratio_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "ratio.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DICOM/zeros.dcm", b"\x00" * (32 * 1024**2))
    with pytest.raises(VolumeError, match="expands"):
        convert_dicom_zip(archive, tmp_path / "out")


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for index in range(11):
            zf.writestr(f"DICOM/{index}.dcm", b"x")
    with pytest.raises(VolumeError, match="11 files"):
        convert_dicom_zip(archive, tmp_path / "out", max_members=10)


def test_zip_without_dicom_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "text.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", b"no images here")
    with pytest.raises(VolumeError, match="no DICOM series found"):
        convert_dicom_zip(archive, tmp_path / "out")


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "upload.zip"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(VolumeError, match="not a ZIP archive"):
        convert_dicom_zip(path, tmp_path / "out")


def test_two_series_are_refused(shared_data: Path, tmp_path: Path) -> None:
    """A second copy of the series with another series number and UID is a second series."""
    source = sorted((shared_data / "siemens-xa30-gre" / "dicom").glob("*.dcm"))[0]
    blob = source.read_bytes()
    uid = b"1.3.12.2.1107.5.2.43.67093.2022071112105821698004979"
    if blob.count(b"gre_field_mapping") == 0:
        pytest.skip("DICOM layout not as expected")
    archive = tmp_path / "two.zip"
    other = blob.replace(b"gre_field_mapping", b"gre_field_mappinh")
    other = other.replace(uid[:-1] + b"9", uid[:-1] + b"8")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/one.dcm", blob)
        zf.writestr("b/two.dcm", patch_series_number(other))
    with pytest.raises(VolumeError, match="more than one series"):
        convert_dicom_zip(archive, tmp_path / "out")


def patch_series_number(blob: bytes) -> bytes:
    """Change every Series Number (0020,0011) IS "8" to "9" (explicit VR little endian)."""
    tag = b"\x20\x00\x11\x00IS"
    out = bytearray(blob)
    start = 0
    while (found := out.find(tag, start)) >= 0:
        length = struct.unpack("<H", out[found + 6 : found + 8])[0]
        value = bytes(out[found + 8 : found + 8 + length])
        if value.strip() == b"8":
            out[found + 8 : found + 8 + length] = value.replace(b"8", b"9")
        start = found + 1
    return bytes(out)


def test_shared_data_is_untouched(shared_data: Path, tmp_path: Path) -> None:
    # Conversions write into tmp_path only.
    before = sorted(p.name for p in (shared_data / "siemens-xa30-gre" / "dicom").iterdir())
    convert_dicom_zip(zip_dicoms(shared_data, tmp_path), tmp_path / "again")
    after = sorted(p.name for p in (shared_data / "siemens-xa30-gre" / "dicom").iterdir())
    assert before == after
    shutil.rmtree(tmp_path / "again")


def test_header_scaling_is_applied_once(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.full((4, 4, 4), 10, dtype=np.int16), np.eye(4))
    img.header.set_slope_inter(2.0, 5.0)
    nib.save(img, tmp_path / "scaled.nii.gz")
    np.testing.assert_array_equal(load_volume(tmp_path / "scaled.nii.gz").data, 25.0)


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = save(rng.normal(size=(32, 32, 32)).astype(np.float32), tmp_path / "cut.nii.gz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VolumeError, match="truncated"):
        load_volume(path)


@pytest.mark.parametrize("inflater", ["isal", "zlib"])
def test_gzip_reader_equals_nibabel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inflater: str
) -> None:
    import zlib

    from imaging.band import io as band_io

    if inflater == "isal":
        isal_zlib = pytest.importorskip("isal.isal_zlib")
        monkeypatch.setattr(band_io, "_inflate", isal_zlib)
    else:
        monkeypatch.setattr(band_io, "_inflate", zlib)
    rng = np.random.default_rng(3)
    data = rng.integers(-2000, 2000, size=(40, 36, 24), dtype=np.int16)
    path = save(data, tmp_path / "swi.nii.gz")
    np.testing.assert_array_equal(band_io.read_intensities(path).raw, data)
    np.testing.assert_array_equal(load_volume(path).data, nib.load(path).get_fdata())


@pytest.mark.parametrize("inflater", ["isal", "zlib"])
def test_gzip_with_a_bad_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inflater: str
) -> None:
    import zlib

    from imaging.band import io as band_io

    if inflater == "isal":
        monkeypatch.setattr(band_io, "_inflate", pytest.importorskip("isal.isal_zlib"))
    else:
        monkeypatch.setattr(band_io, "_inflate", zlib)
    path = save(np.ones((16, 16, 16), dtype=np.float32), tmp_path / "crc.nii.gz")
    damaged = bytearray(path.read_bytes())
    damaged[-8] ^= 0xFF  # the CRC-32 of the gzip trailer
    path.write_bytes(bytes(damaged))
    with pytest.raises(VolumeError, match="cannot be read"):
        load_volume(path)


def test_a_decompression_bomb_is_refused_before_it_is_inflated(tmp_path):
    """128 MiB of zeros gzip to about 130 kB: refused from the header and the file size, with
    no 128 MiB allocation (the check runs before any data is read)."""
    import gzip
    import time
    import tracemalloc

    header = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4)).header.copy()
    header.set_data_shape((512, 512, 512))
    header.set_data_dtype(np.uint8)
    path = tmp_path / "bomb.nii.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(header.binaryblock + b"\0" * 4)  # NIfTI-1: 348-byte header + 4-byte extension
        chunk = bytes(16 * 1024**2)
        for _ in range(8):
            out.write(chunk)
    assert path.stat().st_size < 300_000
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(VolumeError, match="almost entirely constant"):
        load_volume(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - started < 2 and peak < 32 * 1024**2


def test_a_label_map_may_compress_like_freesurfers(shared_data):
    """aparc+aseg.mgz compresses about 170:1: label maps keep the physical deflate limit."""
    labels = load_label_map(shared_data / "freesurfer-bert" / "aparc+aseg.mgz")
    assert labels.data.shape == (256, 256, 256)


def test_missing_voxel_sizes_are_refused_not_read_as_one_mm(tmp_path):
    image = nib.Nifti1Image(np.ones((10, 10, 10), np.float32), None)
    image.header["pixdim"][1:4] = 0
    image.header.set_qform(None, code=0)
    image.header.set_sform(None, code=0)
    path = tmp_path / "nosize.nii"
    nib.save(image, path)
    with pytest.raises(VolumeError, match="gives no voxel size"):
        load_volume(path)
