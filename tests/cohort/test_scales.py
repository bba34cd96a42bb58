"""Derived scores against hand-computed examples (domain.md, clinical scales)."""

import datetime as dt

import pytest

from cohort import scales
from cohort.schedule import Schedule, visit_number


def test_umn_has_the_32_items_of_the_domain():
    assert len(scales.UMN_ITEMS) == 32
    assert scales.UMN_TOTAL_MAX == 32
    assert scales.UMN_REGION_MAX == {
        "bulbar": 4,
        "right_upper": 7,
        "left_upper": 7,
        "right_lower": 7,
        "left_lower": 7,
    }
    assert "left_upper_upper_spasticity" in scales.UMN_ITEMS
    assert "right_lower_babinski" in scales.UMN_ITEMS


def test_umn_subscores_hand_computed():
    items = dict.fromkeys(scales.UMN_ITEMS, 0)
    # jaw jerk; right Hoffmann and biceps; left Babinski, clonus and knee.
    items.update(
        jaw_jerk=1,
        right_upper_hoffmann=1,
        right_upper_biceps=1,
        left_lower_babinski=1,
        left_lower_clonus=1,
        left_lower_knee=1,
    )
    assert scales.umn_subscores(items) == {
        "bulbar": 1,
        "right_upper": 2,
        "left_upper": 0,
        "right_lower": 0,
        "left_lower": 3,
        "total": 6,
    }


def test_umn_all_present_is_32_and_missing_item_leaves_region_undefined():
    assert scales.umn_subscores(dict.fromkeys(scales.UMN_ITEMS, 1))["total"] == 32
    items = dict.fromkeys(scales.UMN_ITEMS, 1)
    items["left_upper_triceps"] = None
    scores = scales.umn_subscores(items)
    assert scores["left_upper"] is None and scores["total"] is None
    assert scores["right_upper"] == 7


def test_contralateral_mapping_left_hemisphere_drives_right_limbs():
    sub = {"right_upper": 3, "right_lower": 2, "left_upper": 1, "left_lower": 0}
    assert scales.contralateral_umn(sub) == {"L": 5, "R": 1}


def test_alsfrs_domains_hand_computed():
    items = {
        "q1": 3,
        "q2": 4,
        "q3": 2,
        "q4": 1,
        "q5": 2,
        "q6": 3,
        "q7": 4,
        "q8": 3,
        "q9": 2,
        "q10": 4,
        "q11": 4,
        "q12": 4,
    }
    assert scales.alsfrs_subscores(items) == {
        "bulbar": 9,
        "fine_motor": 6,
        "gross_motor": 9,
        "respiratory": 12,
        "total": 36,
    }


def test_delta_fs_hand_computed():
    # 48 - 36 = 12 points lost over 12 months -> 1.0 point per month.
    assert scales.delta_fs(36, 12.0) == pytest.approx(1.0)
    assert scales.delta_fs(40, 16.0) == pytest.approx(0.5)
    assert scales.delta_fs(40, None) is None
    assert scales.delta_fs(None, 10.0) is None
    assert scales.delta_fs(40, 0.0) is None


def test_item_range_errors_name_the_item():
    assert scales.umn_item_errors({"jaw_jerk": 2}) == {
        "jaw_jerk": "must be between 0 and 1 (got 2)."
    }
    assert scales.alsfrs_item_errors({"q12": 5}) == {"q12": "must be between 0 and 4 (got 5)."}
    assert scales.alsfrs_item_errors(dict.fromkeys(scales.ALSFRS_ITEMS, 4)) == {}


def test_schedule_targets_and_window():
    schedule = Schedule()
    baseline = dt.date(2025, 1, 1)
    assert schedule.codes() == ["V1", "V2", "V3"]
    assert schedule.target_month("V3") == 8
    assert schedule.target_date(baseline, "V2") == baseline + dt.timedelta(days=122)
    assert schedule.in_window(baseline, "V2", baseline + dt.timedelta(days=122 + 30))
    assert not schedule.in_window(baseline, "V2", baseline + dt.timedelta(days=122 + 31))
    assert Schedule(window_days=45).in_window(baseline, "V2", baseline + dt.timedelta(days=160))
    assert visit_number("V12") == 12
    with pytest.raises(ValueError, match="visit code"):
        visit_number("M4")


def test_every_alsfrs_response_has_its_published_wording():
    from cohort import scales

    for item in scales.ALSFRS_ITEMS:
        wording = scales.response_wording(item)
        for score in range(5):
            assert f"{score} " in wording, (item, score)
    assert scales.ALSFRS_RESPONSES["q1"][2] == "Intelligible with repeating"
    assert "With gastrostomy (5b): 4 Normal · 3 Clumsy" in scales.response_wording("q5")
