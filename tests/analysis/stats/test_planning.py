"""Tests of analysis.stats.planning against published examples and the closed form."""

import math
import time
from typing import Any

import numpy as np
import pytest
from scipy import stats

from analysis.stats.errors import InsufficientDataError, ParameterError
from analysis.stats.planning import (
    buderer,
    design_effect,
    schoenfeld_events,
    slope_difference_power,
    slope_difference_power_closed_form,
    slope_difference_sample_size,
)
from tests.analysis.stats.plain_json import assert_plain_json

#: Variance components of an ALSFRS-R-like outcome (points, points per month).
COMPONENTS: dict[str, Any] = {"sd_intercept": 5.0, "sd_slope": 0.6, "sd_residual": 2.0}

# --- Buderer ---------------------------------------------------------------------------------


def test_buderer_hajian_tilaki_2014_example() -> None:
    # Hajian-Tilaki 2014 (J Biomed Inform 48:193-204, p. 195), reproduced as example 1 of epiR's
    # epi.ssdxsesp: sensitivity 0.80, prevalence 0.10, 95% confidence, absolute precision 0.07 →
    # "a total of 1255 subjects need to be enrolled". By hand: 1.96² · 0.8 · 0.2 / 0.07² = 125.4
    # patients, / 0.10 = 1254.4 subjects.
    answer = buderer("sensitivity", 0.80, 0.07, 0.10)
    assert_plain_json(answer)
    assert answer["n_total"] == 1255
    assert answer["n_cases"] == 126
    assert answer["target"] == "sensitivity" and "Buderer" in answer["method"]


def test_buderer_sensitivity_090_within_005_at_prevalence_010() -> None:
    # By hand: Se 0.90, d 0.05, prevalence 0.10: 1.96² · 0.09 / 0.0025 = 138.3 patients
    # (rounded up 139) and 138.3 / 0.10 = 1382.9 → 1383 subjects.
    answer = buderer("sensitivity", 0.90, 0.05, 0.10)
    assert (answer["n_cases"], answer["n_total"]) == (139, 1383)


def test_buderer_specificity_counts_non_patients() -> None:
    # Sp 0.80 within 0.10, prevalence 0.5: 1.96² · 0.16 / 0.01 = 61.5 non-patients →
    # 61.5 / 0.5 = 122.9 → 123 subjects.
    answer = buderer("specificity", 0.80, 0.10, 0.50)
    assert (answer["n_cases"], answer["n_total"]) == (62, 123)
    assert "non-patients" in answer["method"]
    # Prevalence 0.2: 61.5 / 0.8 = 76.8 → 77.
    assert buderer("specificity", 0.80, 0.10, 0.20)["n_total"] == 77


def test_buderer_design_effect_and_alpha() -> None:
    z = stats.norm.ppf(0.975)
    plain = z * z * 0.8 * 0.2 / 0.01
    answer = buderer("sensitivity", 0.8, 0.1, 0.5, design_effect=1.5)
    assert answer["n_cases"] == math.ceil(plain * 1.5)
    assert answer["design_effect"] == 1.5
    z90 = stats.norm.ppf(0.95)
    assert buderer("sensitivity", 0.8, 0.1, 0.5, alpha=0.10)["n_cases"] == math.ceil(z90 * z90 * 16)


def test_buderer_rounds_up_without_floating_noise() -> None:
    # At z = 1 (alpha = 0.3173), n = 0.1 · 0.9 / 0.03² = 100 in exact arithmetic, but floating
    # point gives 100.00000000000001, which a plain ceil would turn into 101.
    alpha = 2 * (1 - stats.norm.cdf(1.0))
    assert stats.norm.ppf(1 - alpha / 2) == 1.0
    assert math.ceil(0.1 * 0.9 / 0.03**2) == 101
    assert buderer("sensitivity", 0.1, 0.03, 0.5, alpha=alpha)["n_cases"] == 100
    assert buderer("sensitivity", 0.1, 0.03, 0.5, alpha=alpha)["n_total"] == 200


def test_design_effect_formula() -> None:
    # 1 + (m − 1) ICC: 20 subjects per site, ICC 0.05 → 1.95.
    assert design_effect(20, 0.05) == pytest.approx(1.95)
    assert design_effect(1, 0.3) == 1.0
    assert design_effect(10, 0.0) == 1.0
    for bad in ((0.5, 0.1), (10, -0.1), (10, 1.5), (float("nan"), 0.1)):
        with pytest.raises(ParameterError):
            design_effect(*bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target": "ppv"},
        {"expected": 0.0},
        {"expected": 1.0},
        {"half_width": 0.0},
        {"half_width": 1.0},
        {"prevalence": 0.0},
        {"prevalence": 1.0},
        {"alpha": 0.0},
        {"design_effect": 0.9},
        {"expected": float("nan")},
    ],
)
def test_buderer_refuses_bad_parameters(kwargs: dict) -> None:
    arguments = {
        "target": "sensitivity",
        "expected": 0.8,
        "half_width": 0.1,
        "prevalence": 0.5,
        **kwargs,
    }
    with pytest.raises(ParameterError):
        buderer(**arguments)


# --- Schoenfeld ------------------------------------------------------------------------------


def test_schoenfeld_hazard_ratio_half() -> None:
    # HR 0.5 (or 2), two-sided α 0.05, power 0.8, equal groups:
    # (1.960 + 0.842)² / (0.25 · 0.4805) = 7.849 / 0.1201 = 65.3 → 66 events.
    answer = schoenfeld_events(0.5)
    assert_plain_json(answer)
    assert answer["events"] == 66
    assert answer["events_unrounded"] == pytest.approx(65.35, abs=0.01)
    assert schoenfeld_events(2.0)["events"] == 66


def test_schoenfeld_mrc_cbu_worked_example() -> None:
    # MRC CBU statistics wiki (FAQ/powsurv), Schoenfeld (1983) worked example: survival 0.75 vs
    # 0.37, HR = ln 0.75 / ln 0.37, 80% power, 5% two-sided, equal groups:
    # 4 (1.96 + 0.84)² / (ln HR)² = 20.39 events with z rounded to two decimals.
    hr = math.log(0.75) / math.log(0.37)
    answer = schoenfeld_events(hr)
    rounded_z = 4 * (1.96 + 0.84) ** 2 / math.log(hr) ** 2
    assert rounded_z == pytest.approx(20.39, abs=0.005)
    # Exact quantiles (1.95996, 0.84162) give slightly more, 20.41 → 21 events.
    assert answer["events_unrounded"] == pytest.approx(rounded_z * (7.8489 / 7.84), rel=1e-4)
    assert answer["events"] == 21


def test_schoenfeld_unequal_groups_and_power() -> None:
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.9)
    expected = z * z / (0.3 * 0.7 * math.log(0.7) ** 2)
    answer = schoenfeld_events(0.7, power=0.9, proportion=0.3)
    assert answer["events"] == math.ceil(expected)


@pytest.mark.parametrize(
    "kwargs",
    [{"hr": 1.0}, {"hr": 0.0}, {"hr": -2.0}, {"power": 1.0}, {"alpha": 0.0}, {"proportion": 1.0}],
)
def test_schoenfeld_refuses_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        schoenfeld_events(**{"hr": 0.5, **kwargs})


# --- slope difference: closed form ------------------------------------------------------------


def test_closed_form_by_hand() -> None:
    # Visits 0, 4, 8: Σ(t − t̄)² = 32. V = 0.6² + 2²/32 = 0.36 + 0.125 = 0.485.
    # Δ 0.3, n 50: shift = 0.3 / √(2 · 0.485 / 50) = 2.1538; power = Φ(2.1538 − 1.96) + Φ(−4.11).
    answer = slope_difference_power_closed_form(0.3, 50, sd_slope=0.6, sd_residual=2.0)
    assert_plain_json(answer)
    assert answer["slope_variance"] == pytest.approx(0.485)
    shift = 0.3 / math.sqrt(2 * 0.485 / 50)
    expected = stats.norm.cdf(shift - 1.959964) + stats.norm.cdf(-shift - 1.959964)
    assert answer["power"] == pytest.approx(expected, abs=1e-6)
    assert answer["power"] == pytest.approx(0.5767, abs=1e-3)


def test_closed_form_t_is_below_normal_for_small_n() -> None:
    normal = slope_difference_power_closed_form(0.8, 6, sd_slope=0.6, sd_residual=2.0)
    t_based = slope_difference_power_closed_form(
        0.8, 6, sd_slope=0.6, sd_residual=2.0, distribution="t"
    )
    assert t_based["power"] < normal["power"]
    large = [
        slope_difference_power_closed_form(0.2, 500, sd_slope=0.6, sd_residual=2.0, distribution=d)[
            "power"
        ]
        for d in ("normal", "t")
    ]
    assert large[0] == pytest.approx(large[1], abs=2e-3)


# --- slope difference: simulation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("difference", "n", "components", "visits"),
    [
        (0.3, 50, COMPONENTS, (0, 4, 8)),
        (0.3, 100, COMPONENTS, (0, 4, 8)),
        (0.5, 40, {"sd_intercept": 3.0, "sd_slope": 1.0, "sd_residual": 1.5}, (0, 4, 8, 12)),
        (-0.25, 120, {"sd_intercept": 0.0, "sd_slope": 0.5, "sd_residual": 3.0}, (0, 6)),
    ],
)
def test_simulated_power_matches_the_closed_form(
    difference: float, n: int, components: dict, visits: tuple
) -> None:
    simulated = slope_difference_power(
        difference, n, visits_months=visits, n_sim=2000, corr_intercept_slope=0.3, **components
    )
    assert_plain_json(simulated)
    closed = slope_difference_power_closed_form(
        difference,
        n,
        visits_months=visits,
        sd_slope=components["sd_slope"],
        sd_residual=components["sd_residual"],
        distribution="t",
    )
    assert abs(simulated["power"] - closed["power"]) < 3 * simulated["mc_error"]
    assert simulated["untestable"] == 0
    assert simulated["mc_error"] == pytest.approx(
        math.sqrt(simulated["power"] * (1 - simulated["power"]) / 2000)
    )


def test_simulated_power_matches_the_t_closed_form_for_small_n() -> None:
    # 10 per group: the normal approximation overstates the power, the t version does not.
    simulated = slope_difference_power(0.8, 10, n_sim=4000, **COMPONENTS)
    kwargs: dict[str, Any] = {"sd_slope": 0.6, "sd_residual": 2.0}
    t_based = slope_difference_power_closed_form(0.8, 10, distribution="t", **kwargs)
    normal = slope_difference_power_closed_form(0.8, 10, **kwargs)
    assert abs(simulated["power"] - t_based["power"]) < 3 * simulated["mc_error"]
    assert simulated["power"] < normal["power"]


def test_vectorized_analysis_equals_per_subject_fits_and_scipy_welch() -> None:
    # One block of 40 data sets, rebuilt subject by subject from the documented generator layout
    # (child seed per block of SIMULATION_BLOCK data sets, then one generator for the normal
    # draws and one for dropout), fitted with scipy's linregress and ttest_ind(equal_var=False).
    n, n_sim, seed, alpha, dropout = 8, 40, 5, 0.3, 0.25
    times = np.array([0.0, 4.0, 8.0])
    answer = slope_difference_power(
        0.5,
        n,
        visits_months=tuple(times),
        sd_intercept=3.0,
        sd_slope=0.6,
        corr_intercept_slope=0.2,
        sd_residual=2.0,
        alpha=alpha,
        dropout_per_visit=dropout,
        n_sim=n_sim,
        seed=seed,
    )
    normal_seed, dropout_seed = np.random.SeedSequence(seed).spawn(1)[0].spawn(2)
    draws = np.random.default_rng(normal_seed).standard_normal((n, n_sim, 2, 2 + len(times)))
    stays = np.random.default_rng(dropout_seed).random((n, n_sim, 2, len(times))) >= dropout
    rejections = 0
    for data_set in range(n_sim):
        slopes: list[list[float]] = [[], []]
        for group in (0, 1):
            for subject in range(n):
                d = draws[subject, data_set, group]
                b0 = 3.0 * d[0]
                b1 = 0.6 * (0.2 * d[0] + math.sqrt(1 - 0.2**2) * d[1]) + 0.5 * group
                y = b0 + b1 * times + 2.0 * d[2:]
                visits = 1
                while visits < len(times) and stays[subject, data_set, group, visits]:
                    visits += 1
                if visits >= 2:
                    fit = stats.linregress(times[:visits], y[:visits])
                    slopes[group].append(fit.slope)
        p = stats.ttest_ind(slopes[1], slopes[0], equal_var=False).pvalue
        rejections += p < alpha
    assert answer["power"] == rejections / n_sim
    assert answer["untestable"] == 0


def test_power_is_alpha_without_a_difference() -> None:
    answer = slope_difference_power(0.0, 30, n_sim=4000, **COMPONENTS)
    assert abs(answer["power"] - 0.05) < 3 * math.sqrt(0.05 * 0.95 / 4000)
    answer = slope_difference_power(0.0, 30, n_sim=4000, alpha=0.2, **COMPONENTS)
    assert abs(answer["power"] - 0.2) < 3 * math.sqrt(0.2 * 0.8 / 4000)


def test_simulation_is_reproducible_with_its_seed() -> None:
    first = slope_difference_power(0.3, 40, n_sim=300, seed=7, **COMPONENTS)
    again = slope_difference_power(0.3, 40, n_sim=300, seed=7, **COMPONENTS)
    other = slope_difference_power(0.3, 40, n_sim=300, seed=8, **COMPONENTS)
    assert first == again
    assert first["seed"] == 7 and "seed 7" in first["method"]
    assert other["seed"] == 8 and other != first


def test_power_increases_with_n() -> None:
    powers = [
        slope_difference_power(0.3, n, n_sim=1000, **COMPONENTS)["power"] for n in (10, 30, 60, 120)
    ]
    assert powers == sorted(powers)
    assert powers[-1] - powers[0] > 0.5


def test_dropout_lowers_power() -> None:
    complete = slope_difference_power(0.3, 60, n_sim=1000, **COMPONENTS)
    dropout = slope_difference_power(0.3, 60, n_sim=1000, dropout_per_visit=0.3, **COMPONENTS)
    assert dropout["power"] < complete["power"] - 3 * complete["mc_error"]
    assert "dropout of 0.3" in dropout["method"]


def test_heavy_dropout_counts_untestable_data_sets() -> None:
    # Two visits, 95% lost before the second: most data sets keep fewer than 2 slopes per group.
    answer = slope_difference_power(
        0.3, 3, visits_months=(0, 4), dropout_per_visit=0.95, n_sim=200, **COMPONENTS
    )
    assert answer["untestable"] > 150
    assert 0 <= answer["power"] <= 0.05


def test_simulation_is_fast() -> None:
    start = time.perf_counter()
    slope_difference_power(0.3, 200, n_sim=1000, **COMPONENTS)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_per_group": 1},
        {"n_per_group": 10.5},
        {"sd_slope": -0.1},
        {"sd_intercept": -1.0},
        {"sd_residual": 0.0},
        {"visits_months": (0,)},
        {"visits_months": (0, 8, 4)},
        {"visits_months": (0, 4, 4)},
        {"corr_intercept_slope": 1.5},
        {"dropout_per_visit": 1.0},
        {"dropout_per_visit": -0.1},
        {"alpha": 1.0},
        {"n_sim": 0},
        {"difference": float("inf")},
    ],
)
def test_slope_power_refuses_bad_parameters(kwargs: dict) -> None:
    arguments = {"difference": 0.3, "n_per_group": 20, **COMPONENTS, **kwargs}
    with pytest.raises(ParameterError):
        slope_difference_power(**arguments)


def test_closed_form_refuses_bad_parameters() -> None:
    with pytest.raises(ParameterError):
        slope_difference_power_closed_form(0.3, 1, sd_slope=0.6, sd_residual=2.0)
    with pytest.raises(ParameterError):
        slope_difference_power_closed_form(0.3, 10, sd_slope=0.6, sd_residual=2.0, distribution="z")  # type: ignore[arg-type]


# --- slope difference: sample size ------------------------------------------------------------


def test_sample_size_is_the_smallest_n_reaching_the_power() -> None:
    answer = slope_difference_sample_size(0.3, 0.8, n_sim=1000, **COMPONENTS)
    assert_plain_json(answer)
    n = answer["n_per_group"]
    # Closed form: 2 · 0.485 · (1.96 + 0.8416)² / 0.09 = 84.6 → 85.
    assert answer["closed_form_n_per_group"] == 85
    assert abs(n - 85) <= 8
    assert answer["power"] >= 0.8
    below = slope_difference_power(0.3, n - 1, n_sim=1000, **COMPONENTS)
    assert below["power"] < 0.8
    at = slope_difference_power(0.3, n, n_sim=1000, **COMPONENTS)
    assert (at["power"], at["mc_error"]) == (answer["power"], answer["mc_error"])


def test_sample_size_grows_with_dropout() -> None:
    complete = slope_difference_sample_size(0.3, n_sim=500, **COMPONENTS)
    dropout = slope_difference_sample_size(0.3, n_sim=500, dropout_per_visit=0.2, **COMPONENTS)
    assert dropout["n_per_group"] > complete["n_per_group"]
    assert dropout["power"] >= 0.8


def test_sample_size_at_the_minimum() -> None:
    # A huge difference: 2 per group already reach the power.
    answer = slope_difference_sample_size(20.0, 0.8, n_sim=200, **COMPONENTS)
    assert answer["n_per_group"] == 2


def test_sample_size_refuses_what_cannot_be_reached() -> None:
    with pytest.raises(ParameterError, match="too small"):
        slope_difference_sample_size(0.01, 0.8, n_sim=100, max_n=50, **COMPONENTS)
    with pytest.raises(ParameterError):
        slope_difference_sample_size(0.0, 0.8, **COMPONENTS)
    with pytest.raises(ParameterError):
        slope_difference_sample_size(0.3, 1.0, **COMPONENTS)
    with pytest.raises(ParameterError):
        slope_difference_sample_size(0.3, 0.8, max_n=1, **COMPONENTS)


def test_variance_components_recover_a_simulated_truth():
    import pandas as pd

    from analysis.stats.planning import variance_components

    rng = np.random.default_rng(7)
    n, times = 3000, np.array([0.0, 4.0, 8.0, 12.0])
    intercepts = rng.normal(0.05, 0.02, n)
    slopes = 0.5 * 0.002 / 0.02 * (intercepts - 0.05) + rng.normal(
        0.004, 0.002 * np.sqrt(1 - 0.25), n
    )
    rows = [
        (s, t, intercepts[s] + slopes[s] * t + rng.normal(0, 0.01)) for s in range(n) for t in times
    ]
    frame = pd.DataFrame(rows, columns=["subject", "months", "y"])
    found = variance_components(frame, subject="subject", time="months", outcome="y")
    assert found["sd_intercept"] == pytest.approx(0.02, rel=0.05)
    assert found["sd_slope"] == pytest.approx(0.002, rel=0.08)
    assert found["sd_residual"] == pytest.approx(0.01, rel=0.03)
    assert found["corr_intercept_slope"] == pytest.approx(0.5, abs=0.08)
    assert found["mean_slope"] == pytest.approx(0.004, abs=2e-4)
    with pytest.raises(InsufficientDataError):
        variance_components(frame.head(8), subject="subject", time="months", outcome="y")
