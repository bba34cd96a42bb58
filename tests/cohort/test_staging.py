"""Tests of cohort.staging: King's and MiToS stages worked by hand from the items."""

from dataclasses import FrozenInstanceError

import pytest

try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a dev requirement
    given = None  # type: ignore[assignment]


from cohort.staging import KingsStage, MitosStage, kings_stage, mitos_stage

NORMAL = {f"q{number}": 4 for number in range(1, 13)}


def items(**changes: int | None) -> dict[str, int | None]:
    """All twelve items normal (4) except ``changes``."""
    return {**NORMAL, **changes}


def kings(
    answers: dict[str, int | None],
    *,
    q5_gastrostomy: bool = False,
    gastrostomy: bool = False,
    niv: bool = False,
) -> KingsStage:
    return kings_stage(answers, q5_gastrostomy=q5_gastrostomy, gastrostomy=gastrostomy, niv=niv)


# --- King's: regions ------------------------------------------------------------------------


def test_all_items_normal_is_not_staged() -> None:
    answer = kings(items())
    assert answer.stage is None and answer.regions == 0
    assert answer.reason is not None and "starts at stage 1" in answer.reason
    assert not answer.nutritional_failure and not answer.respiratory_failure


@pytest.mark.parametrize("item", ["q1", "q2", "q3"])
def test_any_bulbar_item_at_3_involves_the_bulbar_region(item: str) -> None:
    answer = kings(items(**{item: 3}))
    assert (answer.stage, answer.regions, answer.reason) == ("1", 1, None)


def test_bulbar_items_count_as_one_region() -> None:
    # Items 1, 2 and 3 all abnormal: still one region.
    assert kings(items(q1=0, q2=1, q3=2)).stage == "1"


@pytest.mark.parametrize(("item", "stage"), [("q4", "1"), ("q5", "1"), ("q8", "1")])
def test_limb_items_at_3_involve_their_region(item: str, stage: str) -> None:
    assert kings(items(**{item: 3})).stage == stage


def test_items_not_in_a_region_do_not_count() -> None:
    # Items 6, 7 and 9 (dressing, turning, stairs) and 11 (orthopnoea) define no King's region.
    answer = kings(items(q6=0, q7=0, q9=0, q11=0))
    assert answer.stage is None and answer.regions == 0


def test_two_and_three_regions() -> None:
    # Bulbar (q2 = 3) + lower limb (q8 = 2) = 2; + upper limb (q4 = 3) = 3.
    assert kings(items(q2=3, q8=2)).stage == "2"
    answer = kings(items(q2=3, q8=2, q4=3))
    assert (answer.stage, answer.regions) == ("3", 3)


def test_upper_limb_items_count_as_one_region() -> None:
    assert kings(items(q4=2, q5=1)).stage == "1"


# --- King's: stage 4 --------------------------------------------------------------------------


def test_item_5b_means_gastrostomy_and_does_not_count_for_the_upper_limb() -> None:
    # Item 5 answered as 5b (score 2): stage 4A, and 5b is not the 5a of the upper limb region.
    answer = kings(items(q5=2), q5_gastrostomy=True)
    assert answer.stage == "4a" and answer.nutritional_failure
    assert answer.regions == 0
    # The same score answered as 5a is an upper limb region, stage 1.
    assert kings(items(q5=2)).stage == "1"


def test_gastrostomy_event_gives_4a_over_three_regions() -> None:
    answer = kings(items(q1=3, q4=3, q8=3), gastrostomy=True)
    assert (answer.stage, answer.regions) == ("4a", 3)
    assert answer.nutritional_failure and not answer.respiratory_failure


def test_q10_zero_is_respiratory_failure_one_is_not() -> None:
    assert kings(items(q10=0)).stage == "4b"
    assert kings(items(q10=0)).respiratory_failure
    answer = kings(items(q10=1))
    assert answer.stage is None and answer.regions == 0 and not answer.respiratory_failure


def test_q12_three_is_respiratory_failure_four_is_not() -> None:
    # Item 12 = 3 is intermittent NIV: 4B. Item 12 = 4 with item 2 abnormal: stage 1.
    assert kings(items(q12=3, q2=3)).stage == "4b"
    assert kings(items(q12=4, q2=3)).stage == "1"


def test_niv_event_gives_4b() -> None:
    answer = kings(items(q8=3), niv=True)
    assert (answer.stage, answer.regions) == ("4b", 1)
    assert answer.respiratory_failure


def test_both_4a_and_4b_give_4b_and_keep_both_flags() -> None:
    answer = kings(items(q5=1, q10=0), q5_gastrostomy=True, niv=True)
    assert answer.stage == "4b"
    assert answer.nutritional_failure and answer.respiratory_failure
    answer = kings(items(q12=2), gastrostomy=True)
    assert answer.stage == "4b" and answer.nutritional_failure


# --- King's: missing items ----------------------------------------------------------------------


def test_missing_item_that_decides_the_stage_gives_none_with_a_reason() -> None:
    answer = kings(items(q8=None, q1=3))
    assert answer.stage is None and answer.regions is None
    assert answer.reason is not None and "item 8 is missing" in answer.reason


def test_missing_item_of_an_involved_region_does_not_matter() -> None:
    # Item 2 is missing, but item 1 = 3 already involves the bulbar region.
    answer = kings(items(q1=3, q2=None))
    assert (answer.stage, answer.regions, answer.reason) == ("1", 1, None)
    # Item 5 missing, item 4 = 2: the upper limb is involved either way.
    assert kings(items(q4=2, q5=None)).stage == "1"


def test_missing_respiratory_items_leave_stages_1_to_3_open() -> None:
    answer = kings(items(q1=3, q12=None))
    assert answer.stage is None and answer.regions == 1
    assert answer.reason is not None and "item 12 is missing" in answer.reason
    assert "4B" in answer.reason


def test_4b_is_decided_by_item_10_even_when_others_are_missing() -> None:
    answer = kings({"q10": 0})
    assert answer.stage == "4b" and answer.regions is None and answer.reason is None


def test_gastrostomy_with_missing_respiratory_items_is_open_between_4a_and_4b() -> None:
    answer = kings(items(q10=None, q12=None), gastrostomy=True)
    assert answer.stage is None and answer.nutritional_failure
    assert answer.reason is not None and "items 10 and 12 are missing" in answer.reason
    # With item 12 at 4 and item 10 at 1 it is 4A.
    assert kings(items(q10=1), gastrostomy=True).stage == "4a"


def test_4a_needs_no_limb_items() -> None:
    answer = kings({"q10": 2, "q12": 4}, gastrostomy=True)
    assert answer.stage == "4a" and answer.regions is None


def test_item_5b_missing_score_still_counts_as_gastrostomy() -> None:
    assert kings(items(q5=None), q5_gastrostomy=True).stage == "4a"


# --- King's and MiToS: validation -----------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [{"q13": 4}, {"total": 40}, {"q1": 5}, {"q1": -1}, {"q1": 2.5}, {"q1": "3"}, {"q1": True}],
)
def test_impossible_items_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        kings(bad)
    with pytest.raises(ValueError):
        mitos_stage(bad)


def test_whole_floats_and_nan_are_accepted_from_data_frames() -> None:
    answer = kings({**items(), "q1": 3.0, "q2": float("nan")})  # type: ignore[dict-item]
    assert answer.stage == "1"


def test_results_are_frozen() -> None:
    answer = kings(items())
    with pytest.raises(FrozenInstanceError):
        answer.stage = "1"  # type: ignore[misc]


# --- MiToS --------------------------------------------------------------------------------------


def test_mitos_all_normal_is_stage_0() -> None:
    assert mitos_stage(items()) == MitosStage(stage=0, domains_lost=(), reason=None)


@pytest.mark.parametrize(
    ("changes", "domain"),
    [
        ({"q6": 1}, "movement"),
        ({"q8": 1}, "movement"),
        ({"q3": 1}, "swallowing"),
        ({"q1": 1, "q4": 1}, "communicating"),
        ({"q10": 1}, "breathing"),
        ({"q12": 2}, "breathing"),
    ],
)
def test_mitos_each_rule_at_its_boundary(changes: dict[str, int], domain: str) -> None:
    assert mitos_stage(items(**changes)) == MitosStage(1, (domain,), None)
    # One point better on every changed item: independence kept.
    better = {key: value + 1 for key, value in changes.items()}
    assert mitos_stage(items(**better)).stage == 0


def test_mitos_communicating_needs_both_speech_and_handwriting() -> None:
    # Chiò 2015, Table 1: item 1 <= 1 AND item 4 <= 1.
    assert mitos_stage(items(q1=0)).stage == 0
    assert mitos_stage(items(q4=0)).stage == 0
    assert mitos_stage(items(q1=0, q4=1)).domains_lost == ("communicating",)


def test_mitos_movement_counts_once() -> None:
    assert mitos_stage(items(q6=0, q8=0)).stage == 1


def test_mitos_four_domains() -> None:
    answer = mitos_stage(items(q8=1, q3=0, q1=1, q4=0, q12=1))
    assert answer.stage == 4
    assert answer.domains_lost == ("movement", "swallowing", "communicating", "breathing")


def test_mitos_items_outside_the_domains_do_not_count() -> None:
    assert mitos_stage(items(q2=0, q5=0, q7=0, q9=0, q11=0)).stage == 0


def test_mitos_death_is_stage_5() -> None:
    assert mitos_stage({}, dead=True) == MitosStage(stage=5, domains_lost=(), reason=None)
    assert mitos_stage(items(q3=0), dead=True).domains_lost == ("swallowing",)


def test_mitos_missing_item_that_matters_gives_none() -> None:
    answer = mitos_stage(items(q3=None))
    assert answer.stage is None and answer.domains_lost == ()
    assert answer.reason is not None and "item 3 is missing" in answer.reason
    assert "swallowing" in answer.reason


def test_mitos_missing_item_that_does_not_matter_is_staged() -> None:
    # Item 6 missing but item 8 = 0: movement lost either way.
    assert mitos_stage(items(q6=None, q8=0)).stage == 1
    # Item 4 missing but item 1 = 3: communicating kept either way.
    assert mitos_stage(items(q4=None, q1=3)).stage == 0
    # Items 2, 5, 7, 9, 11 are not used.
    assert mitos_stage(items(q2=None, q5=None, q7=None, q9=None, q11=None)).stage == 0


def test_mitos_open_domain_keeps_the_known_ones() -> None:
    answer = mitos_stage(items(q3=0, q10=None, q12=3))
    assert answer.stage is None and answer.domains_lost == ("swallowing",)
    assert answer.reason is not None and "item 10 is missing" in answer.reason


# --- monotonicity -------------------------------------------------------------------------------

KINGS_ORDER = {None: 0, "1": 1, "2": 2, "3": 3, "4a": 4, "4b": 5}

if given is None:  # pragma: no cover

    def test_stages_never_decrease_when_an_item_is_lowered() -> None:
        pytest.skip("hypothesis is not installed")

else:
    complete_items = st.fixed_dictionaries(
        {f"q{number}": st.integers(min_value=0, max_value=4) for number in range(1, 13)}
    )

    @given(
        answers=complete_items,
        item=st.sampled_from([f"q{number}" for number in range(1, 13)]),
        drop=st.integers(min_value=1, max_value=4),
        q5_gastrostomy=st.booleans(),
        gastrostomy=st.booleans(),
        niv=st.booleans(),
    )
    def test_stages_never_decrease_when_an_item_is_lowered(  # type: ignore[misc]
        answers: dict[str, int],
        item: str,
        drop: int,
        q5_gastrostomy: bool,
        gastrostomy: bool,
        niv: bool,
    ) -> None:
        lowered = {**answers, item: max(0, answers[item] - drop)}
        events = {"q5_gastrostomy": q5_gastrostomy, "gastrostomy": gastrostomy, "niv": niv}
        before, after = kings_stage(answers, **events), kings_stage(lowered, **events)
        assert KINGS_ORDER[after.stage] >= KINGS_ORDER[before.stage]
        assert before.regions is not None and after.regions is not None
        assert after.regions >= before.regions
        assert mitos_stage(lowered).stage >= mitos_stage(answers).stage  # type: ignore[operator]
        # Complete items are always staged (None only for no region involved).
        assert before.stage is not None or before.regions == 0
