"""The paracentral lobule as its own segment (band method 2.1.0): ``leg`` is precentral cortex
only (the superior 20% of the precentral extent), ``paracentral`` is the paracentral label, each
with its own reference slab of the postcentral gyrus. Known truth on the phantom (darkened deep
cortex of one region, the other not) and on bert's real folded cortex."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from imaging.band import Parameters, Phantom, QuantResult, make_phantom, quantify
from imaging.band import labels as fs
from imaging.band.phantom import REFERENCE_INTENSITY
from tests.imaging.band.conftest import BertMotor

TRUE_CONTRAST = 0.15
#: The band of bert's deep cortex: a known darkening of the deep half (depth < 0.5).
BERT_DARKENING = 0.2


def _rows(result: QuantResult) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["hemisphere"], m["segment"]): m for m in result.measurements}


def _contrasts(
    swi: npt.NDArray[np.floating],
    labels: npt.NDArray[np.integer],
    affine: npt.NDArray[np.float64],
) -> dict[tuple[str, str], float]:
    rows = _rows(quantify(swi, affine, labels, affine))
    for key, row in rows.items():
        assert row["band_contrast"] is not None, (key, row["reason"])
    return {key: row["band_contrast"] for key, row in rows.items()}


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    # The phantom darkens the deep half of both precentral and paracentral cortex.
    return make_phantom((64, 64, 64), (1.5, 1.5, 1.5), band_contrast=TRUE_CONTRAST)


def _undarken(phantom: Phantom, region: dict[fs.Hemisphere, int]) -> npt.NDArray[np.float32]:
    """The phantom's SWI with one region's cortex back at the reference intensity."""
    swi = np.asarray(phantom.swi.dataobj, dtype=np.float32).copy()
    labels = np.asarray(phantom.labels.dataobj)
    swi[np.isin(labels, list(region.values()))] = REFERENCE_INTENSITY
    return swi


def test_a_band_in_the_precentral_leg_area_only_reads_in_leg_not_in_paracentral(
    phantom: Phantom,
) -> None:
    labels = np.asarray(phantom.labels.dataobj)
    contrasts = _contrasts(_undarken(phantom, fs.PARACENTRAL), labels, phantom.swi.affine)
    for hemisphere in "LR":
        for segment in ("whole", "leg", "hand", "face"):
            assert contrasts[(hemisphere, segment)] == pytest.approx(TRUE_CONTRAST, abs=0.005)
        assert contrasts[(hemisphere, "paracentral")] == pytest.approx(0.0, abs=0.005)


def test_a_band_in_the_paracentral_lobule_only_reads_in_paracentral_not_in_leg(
    phantom: Phantom,
) -> None:
    labels = np.asarray(phantom.labels.dataobj)
    contrasts = _contrasts(_undarken(phantom, fs.PRECENTRAL), labels, phantom.swi.affine)
    for hemisphere in "LR":
        for segment in ("whole", "leg", "hand", "face"):
            assert contrasts[(hemisphere, segment)] == pytest.approx(0.0, abs=0.005)
        assert contrasts[(hemisphere, "paracentral")] == pytest.approx(TRUE_CONTRAST, abs=0.005)


def test_leg_is_precentral_only_whatever_the_paracentral_label(phantom: Phantom) -> None:
    """Relabelling the paracentral lobule leaves every precentral row unchanged; its own row
    becomes null with a reason."""
    swi = np.asarray(phantom.swi.dataobj, dtype=np.float32)
    labels = np.asarray(phantom.labels.dataobj)
    without = labels.copy()
    for hemisphere in fs.HEMISPHERES:
        without[without == fs.PARACENTRAL[hemisphere]] = fs.SUPERIOR_FRONTAL[hemisphere]
    affine = phantom.swi.affine
    with_rows = _rows(quantify(swi, affine, labels, affine))
    without_rows = _rows(quantify(swi, affine, without, affine))
    for side in "LR":
        for segment in ("whole", "leg", "hand", "face"):
            for key in ("band_contrast", "n_voxels", "coverage", "reference_mean"):
                assert with_rows[(side, segment)][key] == pytest.approx(
                    without_rows[(side, segment)][key]
                ), (segment, key)
        para = without_rows[(side, "paracentral")]
        assert para["band_contrast"] is None and para["n_voxels"] == 0
        assert "no voxels of the paracentral segment" in para["reason"]
        assert with_rows[(side, "paracentral")]["n_voxels"] > 0


def test_paracentral_reference_is_the_postcentral_slab_of_its_extent(phantom: Phantom) -> None:
    """The postcentral reference of ``paracentral`` is darkened in the superior slab that the
    paracentral lobule spans on the axis: only its row moves; with the whole-gyrus reference of
    methods 1.x every row would."""
    swi = np.asarray(phantom.swi.dataobj, dtype=np.float32).copy()
    labels = np.asarray(phantom.labels.dataobj)
    affine = phantom.swi.affine
    before = _contrasts(swi, labels, affine)
    # Brighten the postcentral cortex far below the lobule (world z < 0: the face end).
    z = np.indices(labels.shape)[2] * affine[2, 2] + affine[2, 3]
    low_post = np.isin(labels, list(fs.POSTCENTRAL.values())) & (z < 0.0)
    swi[low_post] *= 1.2
    after = _contrasts(swi, labels, affine)
    for hemisphere in "LR":
        assert after[(hemisphere, "paracentral")] == pytest.approx(
            before[(hemisphere, "paracentral")], abs=1e-9
        )
        assert after[(hemisphere, "leg")] == pytest.approx(before[(hemisphere, "leg")], abs=1e-9)
        assert after[(hemisphere, "face")] > before[(hemisphere, "face")] + 0.02


def test_paracentral_coverage_counts_its_own_label_only(phantom: Phantom) -> None:
    """An image whose field of view stops below the vertex cuts leg and paracentral, not face."""
    swi_img = phantom.swi
    affine = swi_img.affine
    labels = np.asarray(phantom.labels.dataobj)
    swi = np.asarray(swi_img.dataobj, dtype=np.float32)
    z = np.indices(labels.shape)[2] * affine[2, 2] + affine[2, 3]
    paracentral = np.isin(labels, list(fs.PARACENTRAL.values()))
    top = float(np.percentile(z[paracentral], 60))
    keep = int(np.searchsorted(z[0, 0, :], top))
    rows = _rows(quantify(swi[:, :, :keep], affine, labels, affine, Parameters()))
    for hemisphere in "LR":
        para = rows[(hemisphere, "paracentral")]
        assert para["coverage"] < 0.8 and para["band_contrast"] is None
        assert "paracentral segment" in para["reason"]
        face = rows[(hemisphere, "face")]
        assert face["coverage"] > 0.95 and face["band_contrast"] is not None


# ---------------------------------------------------------------- bert: real folded cortex


def test_bert_leg_is_no_longer_diluted_by_the_paracentral_lobule(bert_motor: BertMotor) -> None:
    """bert's deep precentral half darkened by 20%: every precentral segment moves by about
    0.2 and paracentral not at all. Measured (change from bert without the band, L / R): whole
    0.202 / 0.201, leg 0.207 / 0.205, hand 0.200 / 0.198, face 0.202 / 0.203, paracentral 0 / 0;
    leg itself reads 0.174 / 0.182 (method 2.0.0, with the paracentral lobule in leg: 0.046 /
    0.066)."""
    affine, labels = bert_motor.affine, bert_motor.labels
    plain = _contrasts(bert_motor.norm, labels, affine)
    band = _contrasts(bert_motor.darkened(fs.PRECENTRAL, BERT_DARKENING), labels, affine)
    for hemisphere in "LR":
        for segment in ("whole", "leg", "hand", "face"):
            change = band[(hemisphere, segment)] - plain[(hemisphere, segment)]
            assert change == pytest.approx(BERT_DARKENING, abs=0.01), segment
        assert band[(hemisphere, "leg")] > 0.15
        assert band[(hemisphere, "paracentral")] == pytest.approx(
            plain[(hemisphere, "paracentral")], abs=1e-9
        )


def test_bert_paracentral_band_reads_in_paracentral_only(bert_motor: BertMotor) -> None:
    """The vice versa: bert's deep paracentral half darkened by 20% (measured change 0.200 /
    0.197); no precentral segment moves."""
    affine, labels = bert_motor.affine, bert_motor.labels
    plain = _contrasts(bert_motor.norm, labels, affine)
    band = _contrasts(bert_motor.darkened(fs.PARACENTRAL, BERT_DARKENING), labels, affine)
    for hemisphere in "LR":
        for segment in ("whole", "leg", "hand", "face"):
            assert band[(hemisphere, segment)] == pytest.approx(
                plain[(hemisphere, segment)], abs=1e-9
            )
        change = band[(hemisphere, "paracentral")] - plain[(hemisphere, "paracentral")]
        assert change == pytest.approx(BERT_DARKENING, abs=0.01)
