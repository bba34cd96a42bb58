"""ComBat harmonization of band measurements across scanners (Johnson 2007; Fortin 2018)."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from neuroCombat import neuroCombat

from analysis.stats.errors import InsufficientDataError, ParameterError

#: A batch (scanner or site) needs at least this many rows: its variance needs two.
MIN_ROWS_PER_BATCH = 2


def combat(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    batch: str,
    covariates: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> pd.DataFrame:
    """Remove batch (scanner) effects from features while preserving covariate effects.

    Parametric empirical Bayes ComBat (Johnson 2007, as used for imaging by Fortin 2018) through
    neuroCombat 0.2.12, which works with numpy 2 and pandas 2 when no reference batch is used
    (its reference-batch path calls the removed ``np.int``, so it is not offered here).

    Parameters
    ----------
    frame : DataFrame
        One row per measurement (e.g. per run and hemisphere) with the feature, batch and
        covariate columns.
    features : sequence of str
        Numeric columns to harmonize (e.g. ``band_contrast``, ``laminar_contrast``).
    batch : str
        Column naming the batch (scanner or site).
    covariates : sequence of str
        Columns whose effects are preserved (e.g. ``group``, ``age``, ``sex``).
    categorical : sequence of str
        Those covariates that are categorical; the others are continuous.

    Returns
    -------
    DataFrame
        Same index as ``frame``, the feature columns harmonized. Rows with any missing feature,
        batch or covariate are passed through unchanged (ComBat needs complete rows). With a
        single feature the empirical Bayes step has nothing to pool across, so the plain
        location/scale estimates per batch are used (``eb=False``).

    Raises
    ------
    ParameterError
        If a column is missing or a categorical column is not a covariate.
    InsufficientDataError
        If fewer than two batches, or a batch with fewer than two complete rows, or a covariate
        confounded with the batch (singular design).
    """
    features, covariates, categorical = list(features), list(covariates), list(categorical)
    missing = [c for c in (*features, batch, *covariates) if c not in frame.columns]
    if missing:
        raise ParameterError(f"unknown column(s) {missing}")
    if not features:
        raise ParameterError("name at least one feature to harmonize")
    stray = [c for c in categorical if c not in covariates]
    if stray:
        raise ParameterError(f"categorical columns {stray} are not among the covariates")
    result = frame[features].copy()
    complete = frame[[*features, batch, *covariates]].notna().all(axis=1)
    data = frame.loc[complete]
    counts = data[batch].value_counts()
    if len(counts) < 2:
        raise InsufficientDataError("ComBat needs complete rows from at least two batches")
    small = counts[counts < MIN_ROWS_PER_BATCH]
    if not small.empty:
        raise InsufficientDataError(
            f"batch(es) {small.index.tolist()} have fewer than {MIN_ROWS_PER_BATCH} complete "
            "rows; a batch's scale cannot be estimated from one row"
        )
    values = data[features].to_numpy(dtype=float).T  # neuroCombat wants features × samples
    covars = data[[batch, *covariates]].reset_index(drop=True)
    continuous = [c for c in covariates if c not in categorical]
    try:
        # neuroCombat reports its steps with print(); keep them out of the server's output.
        # With one feature neuroCombat still computes the (unused) priors over features and numpy
        # warns about zero degrees of freedom.
        with (
            contextlib.redirect_stdout(io.StringIO()),
            np.errstate(all="ignore"),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", RuntimeWarning)
            harmonized = neuroCombat(
                dat=values,
                covars=covars,
                batch_col=batch,
                categorical_cols=categorical,
                continuous_cols=continuous,
                eb=len(features) > 1,
            )["data"]
    except np.linalg.LinAlgError as exc:
        raise InsufficientDataError(
            "the ComBat design is singular: a covariate is confounded with the batch"
        ) from exc
    if not np.all(np.isfinite(harmonized)):
        raise InsufficientDataError(
            "ComBat gave non-finite values: a feature is constant within a batch"
        )
    result.loc[complete, features] = np.asarray(harmonized, dtype=float).T
    return result
