"""The demo study: realistic, complete enough, and reproducible from its seed."""

from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cohort.demo import build_demo
from cohort.models import AlsfrsR, ClinicalEvent, Site, Subject, UmnExam, Visit

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
    codes = Counter(Visit.objects.values_list("visit_code", flat=True))
    assert set(codes) == {"V1", "V2", "V3"}
    assert Visit.objects.filter(status="missed").exists()
    assert Visit.objects.filter(in_window=False).exists()
    kinds = set(ClinicalEvent.objects.values_list("kind", flat=True))
    assert {"death", "withdrawal"} <= kinds

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
    # Imaging: an SWI and a label map per completed visit, quantified; ALS bands darker than controls.
    from imaging.models import Measurement, QuantificationRun, Scan

    completed = Visit.objects.filter(status="completed").count()
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
