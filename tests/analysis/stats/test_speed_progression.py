"""Subjects sharing a visit schedule share their per-subject algebra, with the same numbers."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.stats import progression
from tests.analysis.stats.progression_simulation import Scenario, simulate_study


def _unshared(statistics: Any) -> Any:
    """The same statistics without the shared schedules: every subject solved on its own."""
    return dataclasses.replace(statistics, ztz_distinct=None, ztx_distinct=None, ztz_index=None)


def _problem(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    months = frame["months"].to_numpy(dtype=float)
    exog = pd.DataFrame({"Intercept": np.ones_like(months), "months": months})
    exog_re = np.column_stack([np.ones_like(months), months])
    return frame["alsfrs_total"].to_numpy(dtype=float), exog, exog_re, frame["subject"].to_numpy()


@pytest.mark.parametrize("columns", [1, 2])
def test_terms_are_the_same_numbers_with_shared_schedules(columns: int) -> None:
    # Visits on the schedule exactly, some subjects leaving early: a handful of distinct Z'Z.
    scenario = Scenario(subjects_per_level=30, jitter_months=0.0, dropout_logit=-1.5)
    frame = simulate_study(scenario, seed=4)
    endog, exog, exog_re, groups = _problem(frame)
    statistics, _ = progression._standardized(endog, exog, exog_re[:, :columns], groups)
    assert statistics.ztz_distinct is not None
    assert len(statistics.ztz_distinct) < statistics.ztz.shape[0] // 2
    plain = _unshared(statistics)
    rng = np.random.default_rng(0)
    for _ in range(25):
        packed = rng.normal(size=columns * (columns + 1) // 2)
        shared_terms, plain_terms = statistics._terms(packed), plain._terms(packed)
        for shared_value, plain_value in zip(shared_terms, plain_terms, strict=True):
            np.testing.assert_array_equal(shared_value, plain_value)
        assert statistics.criterion(packed) == plain.criterion(packed)


def test_subjects_with_their_own_schedules_are_not_grouped() -> None:
    frame = simulate_study(Scenario(subjects_per_level=20, jitter_months=0.5), seed=2)
    endog, exog, exog_re, groups = _problem(frame)
    statistics, _ = progression._standardized(endog, exog, exog_re, groups)
    assert statistics.ztz_distinct is None and statistics.ztz_index is None


def test_the_fit_is_the_same_with_and_without_shared_schedules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = Scenario(subjects_per_level=40, jitter_months=0.0, dropout_logit=-2.0)
    frame = simulate_study(scenario, seed=7)

    def fit() -> str:
        answer = progression.fit_progression(
            frame,
            outcome="alsfrs_total",
            by="group",
            engine=progression.ENGINE_VECTORIZED,
        )
        return json.dumps(answer, sort_keys=True, default=str)

    shared = fit()
    build = progression._SufficientStatistics.build.__func__  # type: ignore[attr-defined]
    calls = []

    def build_unshared(cls: Any, *args: Any) -> Any:
        statistics = build(cls, *args)
        calls.append(statistics.ztz_distinct is not None)
        return _unshared(statistics)

    monkeypatch.setattr(progression._SufficientStatistics, "build", classmethod(build_unshared))
    assert fit() == shared
    assert any(calls)  # the shared schedules were there, and were set aside


@pytest.mark.parametrize(("jitter", "columns"), [(0.0, 2), (0.5, 2), (0.0, 1)])
def test_the_reml_gradient_is_the_criterions_derivative(jitter: float, columns: int) -> None:
    """L-BFGS-B gets the exact gradient: it must match central differences of the criterion,
    with and without shared schedules (and the shared one bit for bit the unshared one)."""
    frame = simulate_study(Scenario(subjects_per_level=25, jitter_months=jitter), seed=5)
    endog, exog, exog_re, groups = _problem(frame)
    statistics, _ = progression._standardized(endog, exog, exog_re[:, :columns], groups)
    plain = _unshared(statistics)
    rng = np.random.default_rng(1)
    size = columns * (columns + 1) // 2
    for _ in range(10):
        packed = rng.normal(size=size) * 0.5 + np.eye(columns)[np.tril_indices(columns)]
        value, gradient = statistics.criterion_and_gradient(packed)
        assert value == statistics.criterion(packed)
        step = 1e-6
        numeric = np.array(
            [
                (statistics.criterion(packed + step * e) - statistics.criterion(packed - step * e))
                / (2 * step)
                for e in np.eye(size)
            ]
        )
        np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-7)
        plain_value, plain_gradient = plain.criterion_and_gradient(packed)
        assert plain_value == value
        np.testing.assert_array_equal(plain_gradient, gradient)
