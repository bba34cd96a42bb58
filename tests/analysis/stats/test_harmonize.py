"""Tests of analysis.stats.harmonize: injected site effects are removed, group effects kept."""

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from neuroCombat import neuroCombat

from analysis.stats.errors import InsufficientDataError
from analysis.stats.harmonize import combat

GROUP_EFFECT = 0.05  # band contrast, ALS minus control
SITE_SHIFT = {"A": 0.0, "B": 0.04, "C": -0.03}  # additive scanner effects
SITE_SCALE = {"A": 1.0, "B": 2.0, "C": 0.5}  # multiplicative scanner effects


def multisite(seed: int = 6, n_per_site: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for site in SITE_SHIFT:
        for i in range(n_per_site):
            group = "ALS" if i % 2 == 0 else "CONTROL"
            age = rng.normal(60, 8)
            base = 0.03 + (GROUP_EFFECT if group == "ALS" else 0.0) + 0.001 * (age - 60)
            noise = rng.normal(0, 0.01, 2) * SITE_SCALE[site]
            rows.append(
                {
                    "site": site,
                    "group": group,
                    "age": age,
                    "band_contrast": base + SITE_SHIFT[site] + noise[0],
                    "laminar_contrast": 0.5 * base + SITE_SHIFT[site] + noise[1],
                }
            )
    return pd.DataFrame(rows)


def test_site_effects_removed_group_effect_kept() -> None:
    frame = multisite()
    features = ["band_contrast", "laminar_contrast"]
    result = combat(
        frame, features=features, batch="site", covariates=["group", "age"], categorical=["group"]
    )
    assert result.index.equals(frame.index)
    harmonized = frame.assign(band_contrast=result["band_contrast"])
    controls = harmonized[harmonized["group"] == "CONTROL"]
    means = controls.groupby("site")["band_contrast"].mean()
    assert means.max() - means.min() < 0.006  # raw spread is 0.07
    # residual SDs after removing group and age: ratio 4 between sites B and C before
    residual = harmonized["band_contrast"] - GROUP_EFFECT * (harmonized["group"] == "ALS")
    residual -= 0.001 * (harmonized["age"] - 60)
    sds = residual.groupby(harmonized["site"]).std()
    assert sds.max() / sds.min() < 1.3
    group_means = harmonized.groupby("group")["band_contrast"].mean()
    assert group_means["ALS"] - group_means["CONTROL"] == pytest.approx(GROUP_EFFECT, abs=0.006)


def test_matches_neurocombat_directly() -> None:
    frame = multisite(seed=9)
    features = ["band_contrast", "laminar_contrast"]
    result = combat(
        frame, features=features, batch="site", covariates=["group", "age"], categorical=["group"]
    )
    with contextlib.redirect_stdout(io.StringIO()):
        direct = neuroCombat(
            dat=frame[features].to_numpy().T,
            covars=frame[["site", "group", "age"]],
            batch_col="site",
            categorical_cols=["group"],
            continuous_cols=["age"],
        )["data"].T
    np.testing.assert_allclose(result[features].to_numpy(), direct, atol=1e-12)


def test_rows_with_missing_features_pass_through_and_one_feature_works() -> None:
    frame = multisite()
    frame.loc[3, "band_contrast"] = np.nan
    frame.loc[5, "age"] = np.nan
    result = combat(frame, features=["band_contrast"], batch="site", covariates=["age"])
    assert np.isnan(result.loc[3, "band_contrast"])
    assert result.loc[5, "band_contrast"] == frame.loc[5, "band_contrast"]
    assert np.isfinite(result["band_contrast"].drop(index=3)).all()


def test_batch_with_one_row_is_insufficient() -> None:
    frame = multisite()
    frame = pd.concat([frame, frame.iloc[[0]].assign(site="D")], ignore_index=True)
    with pytest.raises(InsufficientDataError, match="D"):
        combat(frame, features=["band_contrast", "laminar_contrast"], batch="site")
