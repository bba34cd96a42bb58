"""The demo study: realistic, complete enough, and reproducible from its seed."""

from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cohort.demo import DEFAULT_ANCHOR, build_demo
from cohort.models import AlsfrsR, ClinicalEvent, Site, Study, Subject, UmnExam, Visit

pytestmark = pytest.mark.django_db


def snapshot() -> list:
    """Everything the demo generates, without database ids or timestamps."""
    rows = []
    for s in Subject.objects.order_by("study_id"):
        rows.append(
            (
                s.study_id,
                s.site.code,
                s.group,
                s.sex,
                s.birth_date,
                s.onset_date,
                s.onset_region,
                s.diagnosis_date,
                s.enrolled_on,
            )
        )
    for v in Visit.objects.order_by("subject__study_id", "visit_code"):
        rows.append((v.subject.study_id, v.visit_code, v.date, v.status, v.in_window))
    for u in UmnExam.objects.order_by("visit__subject__study_id", "visit__visit_code"):
        rows.append((str(u.visit), tuple(u.items().values())))
    for a in AlsfrsR.objects.order_by("visit__subject__study_id", "visit__visit_code"):
        rows.append((str(a.visit), tuple(a.items().values()), a.delta_fs))
    for e in ClinicalEvent.objects.order_by("subject__study_id", "kind"):
        rows.append((e.subject.study_id, e.kind, e.date))
    return rows


def _wipe():
    Subject.objects.all().delete()
    Site.objects.all().delete()


def test_demo_is_reproducible_from_its_seed():
    build_demo(seed=7, extensions=False)
    first = snapshot()
    _wipe()
    build_demo(seed=7, extensions=False)
    assert snapshot() == first
    _wipe()
    build_demo(seed=8, extensions=False)
    assert snapshot() != first


def test_demo_is_a_realistic_study():
    counts = build_demo()
    assert counts["sites"] == 3
    assert Subject.objects.count() >= 60
    groups = Counter(Subject.objects.values_list("group", flat=True))
    assert set(groups) == {"ALS", "PLS", "CONTROL", "MIMIC", "SUSPECTED"}
    # Staggered enrolment: follow-up from one visit (recent enrolees) to V7 (month 24).
    codes = Counter(Visit.objects.values_list("visit_code", flat=True))
    assert set(codes) == {f"V{n}" for n in range(1, 8)}
    assert codes["V1"] == Subject.objects.count() > codes["V3"] > codes["V5"] > codes["V7"] >= 3
    assert Study.current().planned_visits == 7
    assert Visit.objects.filter(status="missed").exists()
    assert Visit.objects.filter(in_window=False).exists()
    kinds = set(ClinicalEvent.objects.values_list("kind", flat=True))
    assert kinds == {"death", "withdrawal", "niv", "gastrostomy", "pav", "tracheostomy"}
    # The form follows the events: item 5 with a gastrostomy after one, item 12 capped by NIV.
    for event in ClinicalEvent.objects.filter(kind__in=["gastrostomy", "niv"]):
        for form in AlsfrsR.objects.filter(
            visit__subject=event.subject, visit__date__gte=event.date
        ):
            if event.kind == "gastrostomy":
                assert form.q5_gastrostomy, str(form.visit)
            else:
                assert form.q12 <= 3, str(form.visit)

    # ALS decline: mean ALSFRS-R total falls from V1 to V3; UMN totals rise or stay.
    def mean_total(model, group, code):
        values = list(
            model.objects.filter(visit__subject__group=group, visit__visit_code=code).values_list(
                "total", flat=True
            )
        )
        return sum(values) / len(values)

    assert mean_total(AlsfrsR, "ALS", "V3") < mean_total(AlsfrsR, "ALS", "V1") - 3
    assert mean_total(AlsfrsR, "CONTROL", "V1") > 46
    assert mean_total(UmnExam, "ALS", "V1") > mean_total(UmnExam, "CONTROL", "V1") + 5
    # Imaging: an SWI and a label map per completed imaging visit (V1-V3), quantified; ALS bands
    # darker than controls. Later visits are clinical only.
    from imaging.models import Measurement, QuantificationRun, Scan

    completed = Visit.objects.filter(status="completed", visit_code__in=["V1", "V2", "V3"]).count()
    assert Scan.objects.exclude(visit__visit_code__in=["V1", "V2", "V3"]).count() == 0
    assert counts["add_scans"] == completed
    assert Scan.objects.filter(kind="swi").count() == completed
    assert QuantificationRun.objects.filter(status="done").count() == completed

    from django.db import connection

    if connection.vendor == "postgresql":
        # The demo was just bulk-loaded: without statistics PostgreSQL's planner can pick nested
        # loops that take many minutes over these joins.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    def mean_contrast(group):
        values = Measurement.objects.filter(
            segment="whole", run__scan__visit__subject__group=group
        ).values_list("band_contrast", flat=True)
        return sum(values) / len(values)

    assert mean_contrast("ALS") > mean_contrast("CONTROL") + 0.05
    # Nobody has a visit after death.
    for death in ClinicalEvent.objects.filter(kind="death"):
        assert not death.subject.visits.filter(date__gt=death.date).exists()

    # Patients enrolled under investigation: final diagnoses arrive at follow-up (ALS, PLS or a
    # mimic), and those enrolled less than 12 months ago have none yet.
    from analysis import reports
    from cohort.models import Diagnosis
    from cohort.services import study_user_save

    suspected = Subject.objects.filter(group="SUSPECTED")
    assert suspected.count() == 18
    finals = Diagnosis.objects.filter(reference_standard=True)
    assert {"ALS", "MIMIC"} <= set(finals.values_list("phenotype", flat=True))
    assert suspected.exclude(diagnoses__reference_standard=True).exists()
    assert Visit.objects.exclude(kings_stage=None).exists()
    investigator = study_user_save(username="inv", role="investigator", sites=[], password=None)
    accuracy = reports.diagnostic_report(
        user=investigator,
        marker="band_contrast",
        positive=(),
        negative=(),
        filters=reports.Filters(),
        reference="final_diagnosis",
    ).result
    assert sum(g["n"] for g in accuracy["groups"]) >= 4
    assert accuracy["excluded"]["count"] >= 1
    flow = reports.stard_report(
        user=investigator, marker="mbs_read", population="suspected", filters=reports.Filters()
    ).result
    assert {n["id"]: n["n"] for n in flow["nodes"]}["enrolled"] == 18


def test_load_demo_command_loads_once(capsys):
    call_command("load_demo", "--clinical-only")
    out = capsys.readouterr().out
    assert "Demo study loaded" in out and "coord_edm" in out
    # Progress as it goes: one line per site before the summary.
    assert out.index("Subjects, visits, forms and events at MTL") < out.index("Demo study loaded")
    call_command("load_demo", "--if-empty")
    assert "already holds" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("load_demo", "--clinical-only")


def test_demo_survivors_have_a_vital_status_check():
    """Survival follows the demo's survivors to the data cut, not to their last visit."""
    build_demo(extensions=False)
    ended = set(
        ClinicalEvent.objects.filter(kind__in=["death", "withdrawal"]).values_list(
            "subject_id", flat=True
        )
    )
    for subject in Subject.objects.all():
        assert (subject.last_known_alive is None) == (subject.pk in ended), subject.study_id
    # Nothing is recorded after a subject's death or withdrawal, nor after the data cut.
    for end in ClinicalEvent.objects.filter(kind__in=["death", "withdrawal"]):
        assert not end.subject.visits.filter(date__gte=end.date).exists(), str(end)
        assert not end.subject.events.filter(date__gt=end.date).exists(), str(end)
    assert not ClinicalEvent.objects.filter(date__gte=DEFAULT_ANCHOR).exists()
    assert not Visit.objects.filter(date__gte=DEFAULT_ANCHOR).exists()
    # Controls and mimics reach none of ALS's milestones; they only leave the study.
    assert set(
        ClinicalEvent.objects.filter(subject__group__in=["CONTROL", "MIMIC"]).values_list(
            "kind", flat=True
        )
    ) <= {"withdrawal"}
    # ALS patients lose about a point of ALSFRS-R a month, each at their own pace.
    slopes = []
    for subject in Subject.objects.filter(group="ALS"):
        rows = list(
            AlsfrsR.objects.filter(visit__subject=subject).values_list(
                "visit__days_from_baseline", "total"
            )
        )
        if len(rows) >= 3:
            months = [d / 30.4375 for d, _ in rows]
            totals = [t for _, t in rows]
            mean_m, mean_t = sum(months) / len(months), sum(totals) / len(totals)
            slopes.append(
                sum((m - mean_m) * (t - mean_t) for m, t in zip(months, totals, strict=True))
                / sum((m - mean_m) ** 2 for m in months)
            )
    slopes.sort()
    assert len(slopes) >= 10
    assert -1.3 < slopes[len(slopes) // 2] < -0.6
    assert slopes[-1] - slopes[0] > 0.8  # between-subject variation
    _default_analyses_are_informative()


def _default_analyses_are_informative() -> None:
    """The survival and progression pages, at their defaults, give answers worth reading."""
    from analysis import reports
    from cohort.services import study_user_save

    investigator = study_user_save(username="inv", role="investigator", sites=[], password=None)
    # Survival page defaults: the composite endpoint by group over the patients (ALS, PLS).
    survival = reports.survival_report(
        user=investigator,
        event="death_or_tracheostomy_or_pav",
        by="group",
        filters=reports.Filters(groups=reports.DEFAULT_SURVIVAL_GROUPS),
    ).result
    levels = {g["level"]: g for g in survival["groups"]}
    assert set(levels) == {"ALS", "PLS"}
    assert all(g["events"] >= 1 for g in levels.values()), levels
    assert levels["ALS"]["events"] >= 6
    assert levels["ALS"]["median_months"] is not None
    assert 6 < levels["ALS"]["median_months"] < 30
    assert survival["logrank_p"] is not None
    assert [t["term"] for t in survival["cox"]] == ["group: PLS vs ALS"]
    assert survival["cox"][0]["hazard_ratio"] < 1  # PLS progresses more slowly
    assert not any(w.startswith("Cox model not estimated") for w in survival["warnings"])
    # Progression page defaults (UMN total by group, every group) and the ALSFRS-R: a slope with
    # its interval for each group; ALS declines, controls stay flat.
    for outcome, sign in (("umn_total", 1), ("alsfrs_total", -1)):
        progression = reports.progression_report(
            user=investigator, outcome=outcome, by="group", filters=reports.Filters()
        ).result
        slopes = {s["level"]: s for s in progression["slopes"]}
        assert set(slopes) == {"ALS", "PLS", "CONTROL", "MIMIC", "SUSPECTED"}
        for slope in slopes.values():
            assert slope["ci_low"] < slope["slope"] < slope["ci_high"], (outcome, slope)
        als = slopes["ALS"]
        assert min(sign * als["ci_low"], sign * als["ci_high"]) > 0, als
        # Healthy controls neither gain UMN signs nor lose function over two years.
        assert abs(slopes["CONTROL"]["slope"]) < 0.06, slopes["CONTROL"]
    alsfrs = reports.progression_report(
        user=investigator,
        outcome="alsfrs_total",
        by="group",
        filters=reports.Filters(groups=("ALS", "PLS")),
    ).result
    assert [s["level"] for s in alsfrs["slopes"]] == ["ALS", "PLS"]
    assert alsfrs["slopes"][0]["ci_high"] < alsfrs["slopes"][1]["slope"] < 0
    assert alsfrs["slope_difference"]["ci_low"] < alsfrs["slope_difference"]["ci_high"]


def test_demo_faster_decliners_leave_more_often() -> None:
    """Informative dropout: the chance of leaving after a visit grows with the pace of decline;
    controls and mimics leave at a low constant rate."""
    from cohort.demo import Trajectory, _dropout_probability

    def patient(pace: float) -> Trajectory:
        return Trajectory(12, 0.2, 36, -0.95 - 0.4 * pace, pace=pace, events=True)

    slow, typical, fast = (_dropout_probability(patient(p), "ALS") for p in (-1, 0, 1.5))
    assert 0 < slow < typical < fast < 0.5
    assert fast > 2 * typical
    still = Trajectory(0.5, 0.0, 47, 0.0)
    assert _dropout_probability(still, "CONTROL") == 0.02
    assert _dropout_probability(still, "MIMIC") == 0.03
