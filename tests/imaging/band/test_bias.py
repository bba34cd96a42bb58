"""Optional N4 bias-field correction (``Parameters.n4``, band method 2.1.0). Known truth: a
smooth multiplicative field of known shape laid over the phantom (known band) and over bert's
real cortex with a known darkening; with ``n4`` the segment values come back towards the values
without the field. The field runs across the gyri, where the segment-matched reference cannot
cancel it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from imaging.band import Parameters, Phantom, make_phantom, n4_correct, quantify
from imaging.band import labels as fs
from tests.imaging.band.conftest import BertMotor

TRUE_CONTRAST = 0.15
#: Field strength: 30% over 100 mm (anterior-posterior), or 30% at 60 mm from a centre (radial).
GAIN = 0.3


def _world(shape: tuple[int, ...], affine: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    ijk = np.indices(shape).reshape(3, -1).T
    return np.asarray(ijk @ affine[:3, :3].T + affine[:3, 3])


def _contrasts(
    swi: npt.NDArray[np.floating],
    labels: npt.NDArray[np.integer],
    affine: npt.NDArray[np.float64],
    n4: bool,
) -> dict[str, float]:
    result = quantify(swi, affine, labels, affine, Parameters(n4=n4))
    assert result.parameters["n4"] is n4
    out = {}
    for m in result.measurements:
        assert m["band_contrast"] is not None, m
        out[f"{m['hemisphere']} {m['segment']}"] = m["band_contrast"]
    return out


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=TRUE_CONTRAST, noise_sd=2.0, seed=5
    )


def _errors(contrasts: dict[str, float], truth: dict[str, float] | float) -> dict[str, float]:
    return {
        key: value - (truth if isinstance(truth, float) else truth[key])
        for key, value in contrasts.items()
    }


def test_n4_removes_an_anterior_posterior_field_from_the_phantom(phantom: Phantom) -> None:
    """A field along y reads precentral (anterior) against postcentral (posterior): measured
    errors -0.015 to -0.032 without N4, -0.003 to -0.010 with it."""
    swi = np.asarray(phantom.swi.dataobj, dtype=np.float32)
    labels = np.asarray(phantom.labels.dataobj)
    affine = phantom.swi.affine
    field = 1.0 + GAIN * _world(swi.shape, affine)[:, 1] / 100.0
    biased = (swi * field.reshape(swi.shape)).astype(np.float32)
    plain = _errors(_contrasts(biased, labels, affine, n4=False), TRUE_CONTRAST)
    corrected = _errors(_contrasts(biased, labels, affine, n4=True), TRUE_CONTRAST)
    for key, error in corrected.items():
        assert abs(error) <= 0.012, key
        assert abs(error) < abs(plain[key]), key
    assert max(abs(e) for e in plain.values()) > 0.025


def test_n4_removes_a_medial_lateral_field_from_the_paracentral_lobule(phantom: Phantom) -> None:
    """A field rising laterally (|x|) lowers the medial paracentral lobule against the lateral
    postcentral slab: measured +0.035 / +0.038 without N4, +0.006 / +0.009 with it."""
    swi = np.asarray(phantom.swi.dataobj, dtype=np.float32)
    labels = np.asarray(phantom.labels.dataobj)
    affine = phantom.swi.affine
    field = 1.0 + GAIN * np.abs(_world(swi.shape, affine)[:, 0]) / 100.0
    biased = (swi * field.reshape(swi.shape)).astype(np.float32)
    plain = _errors(_contrasts(biased, labels, affine, n4=False), TRUE_CONTRAST)
    corrected = _errors(_contrasts(biased, labels, affine, n4=True), TRUE_CONTRAST)
    for hemisphere in "LR":
        key = f"{hemisphere} paracentral"
        assert plain[key] > 0.025
        assert abs(corrected[key]) <= 0.012
    assert max(abs(e) for e in corrected.values()) <= 0.012


def test_n4_without_a_field_leaves_the_band(phantom: Phantom) -> None:
    """No field: N4 must not take the band for one (measured: every row within 0.007)."""
    swi = np.asarray(phantom.swi.dataobj, dtype=np.float32)
    labels = np.asarray(phantom.labels.dataobj)
    corrected = _errors(_contrasts(swi, labels, phantom.swi.affine, n4=True), TRUE_CONTRAST)
    assert max(abs(e) for e in corrected.values()) <= 0.01


def test_n4_on_bert_with_a_known_field(bert_motor: BertMotor) -> None:
    """bert's deep precentral half darkened by 20%, then a radial field (30% at 60 mm from the
    crop's centre). Truth is the darkened bert without the field (norm.mgz is FreeSurfer's
    bias-corrected image). Measured errors without N4: leg +0.030 / +0.026, hand +0.034 /
    +0.029, paracentral +0.069 / +0.061 (L / R); with N4 every precentral row within 0.006
    and paracentral +0.022 / +0.031."""
    affine, labels = bert_motor.affine, bert_motor.labels
    darkened = bert_motor.darkened(fs.PRECENTRAL, 0.2)
    world = _world(darkened.shape, affine)
    centre = world.mean(axis=0)
    field = 1.0 + GAIN * ((world - centre) ** 2).sum(axis=1) / 60.0**2
    biased = (darkened * field.reshape(darkened.shape)).astype(np.float32)
    truth = _contrasts(darkened, labels, affine, n4=False)
    plain = _errors(_contrasts(biased, labels, affine, n4=False), truth)
    corrected = _errors(_contrasts(biased, labels, affine, n4=True), truth)
    for hemisphere in "LR":
        for segment in ("whole", "leg", "hand", "face"):
            assert abs(corrected[f"{hemisphere} {segment}"]) <= 0.01, segment
        for segment in ("leg", "hand", "paracentral"):
            key = f"{hemisphere} {segment}"
            assert abs(corrected[key]) < abs(plain[key]), key
        assert abs(corrected[f"{hemisphere} paracentral"]) <= 0.04


def test_n4_correct_divides_out_a_known_field_and_keeps_nan() -> None:
    rng = np.random.default_rng(1)
    shape = (40, 40, 40)
    tissue = (100.0 + rng.normal(0.0, 1.0, shape)).astype(np.float32)
    world = np.indices(shape).reshape(3, -1).T * 2.0
    field = (1.0 + 0.3 * world[:, 0] / 80.0).reshape(shape)
    image = (tissue * field).astype(np.float32)
    image[0, 0, :5] = np.nan
    mask = np.ones(shape, dtype=bool)
    corrected = n4_correct(image, mask, (2.0, 2.0, 2.0))
    assert np.isnan(corrected[0, 0, :5]).all()
    finite = np.isfinite(corrected)
    # The field's 30% left-right rise is gone: ends differ by less than 2%.
    left = np.nanmean(corrected[:5])
    right = np.nanmean(corrected[-5:])
    assert abs(right / left - 1.0) < 0.02
    assert np.nanmean(image[-5:]) / np.nanmean(image[:5]) > 1.2
    assert finite.sum() == image.size - 5


def test_n4_correct_refuses_too_little_white_matter_and_other_shapes() -> None:
    image = np.full((20, 20, 20), 100.0, dtype=np.float32)
    with pytest.raises(ValueError, match="at least"):
        n4_correct(image, np.zeros(image.shape, dtype=bool), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="same shape"):
        n4_correct(image, np.ones((20, 20, 10), dtype=bool), (1.0, 1.0, 1.0))


def test_n4_is_refused_for_qsm() -> None:
    with pytest.raises(ValueError, match="magnitude only"):
        Parameters(input_kind="qsm", n4=True)
