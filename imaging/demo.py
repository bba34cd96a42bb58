"""Demo imaging: an SWI phantom and label map per completed imaging visit (V1-V3: MRI every four
months up to month 8, as in CALSNIC; clinical follow-up goes on without it), uploaded and quantified,
and blinded reads of every SWI by two demo raters.

The true band contrast of each hemisphere follows the subject's group and the contralateral limbs'
UMN burden (the hypothesis the study tests), plus a per-site scanner offset that harmonization should
remove. Files go through the same upload and quantification services as real scans.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import nibabel as nib

from cohort.models import Group, Visit, VisitStatus
from core import roles
from core.roles import Acting, StudyUser
from imaging import band, services

DEMO_SHAPE = (64, 64, 64)
DEMO_VOXEL_MM = (1.5, 1.5, 1.5)
# Scanner per site: (manufacturer, model, field strength T, additive contrast offset).
DEMO_SCANNERS = {
    "EDM": ("Siemens", "Prisma", 3.0, 0.0),
    "TOR": ("GE", "Discovery MR750", 3.0, 0.02),
    "MTL": ("Philips", "Achieva", 3.0, -0.01),
}
# Controls and mimics carry some age-related cortical iron (Rizzo 2020 saw the sign in 13/33
# controls), so the groups overlap as in the literature rather than separating perfectly.
GROUP_BASE_CONTRAST = {Group.ALS: 0.04, Group.PLS: 0.07, Group.MIMIC: 0.03, Group.CONTROL: 0.025}
BIOLOGICAL_SD = 0.03  # between-subject spread of the true contrast (cortical iron)
VISIT_SD = 0.01  # visit-to-visit variation of one subject's true contrast
UMN_CONTRAST_PER_POINT = 0.012  # per contralateral limb UMN point (0-14)
#: Visits with MRI in the demo (the imaging protocol's; later visits are clinical only).
DEMO_IMAGING_VISITS = ("V1", "V2", "V3")


def _course_group(subject: Any) -> str:
    """The group whose band a subject has: for a subject enrolled under investigation, what the
    demo's diagnoses say they turned out to have (the latest diagnosis; possible ALS before)."""
    if subject.group != Group.SUSPECTED:
        return str(subject.group)
    latest = subject.diagnoses.order_by("-date").first()
    if latest is None or latest.phenotype not in GROUP_BASE_CONTRAST:
        return Group.ALS
    return str(latest.phenotype)


def _true_contrast(
    rng: random.Random, visit: Visit, offset: float, subject_iron: dict[int, float]
) -> tuple[float, float]:
    group = _course_group(visit.subject)
    exam = getattr(visit, "umn_exam", None)
    contra = exam.contralateral if exam is not None else {"L": 0, "R": 0}
    if visit.subject_id not in subject_iron:
        subject_iron[visit.subject_id] = rng.gauss(0, BIOLOGICAL_SD)
    offset += subject_iron[visit.subject_id]
    values = []
    for hemisphere in ("L", "R"):
        signal = GROUP_BASE_CONTRAST[Group(group)] + UMN_CONTRAST_PER_POINT * (
            contra[hemisphere] or 0
        )
        values.append(max(0.0, min(0.45, signal + offset + rng.gauss(0, VISIT_SD))))
    return values[0], values[1]


def add_scans(*, rng: random.Random, user: Acting = None, quantify: bool = True) -> int:
    """Upload an SWI phantom and label map for every completed imaging visit; quantify them."""
    visits = (
        Visit.objects.filter(status=VisitStatus.COMPLETED, visit_code__in=DEMO_IMAGING_VISITS)
        .select_related("subject__site", "umn_exam")
        .order_by("subject__study_id", "visit_code")
    )
    count = 0
    subject_iron: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="motorband-demo-") as tmp:
        for visit in visits:
            manufacturer, model, tesla, offset = DEMO_SCANNERS.get(
                visit.subject.site.code, ("Siemens", "Skyra", 3.0, 0.0)
            )
            left, right = _true_contrast(rng, visit, offset, subject_iron)
            phantom = band.make_phantom(
                DEMO_SHAPE,
                DEMO_VOXEL_MM,
                band_contrast=(left, right),
                noise_sd=3.0,
                rotation_deg=(rng.uniform(-8, 8), rng.uniform(-8, 8), rng.uniform(-8, 8)),
                seed=rng.randrange(2**31),
            )
            paths = {}
            for kind, image in (("swi", phantom.swi), ("labels", phantom.labels)):
                paths[kind] = Path(tmp) / f"{visit.pk}_{kind}.nii.gz"
                nib.save(image, paths[kind])
            scans = {}
            for kind, path in paths.items():
                with path.open("rb") as handle:
                    scans[kind] = services.scan_upload(
                        user=user,
                        visit=visit,
                        kind=kind,
                        upload=handle,
                        name=path.name,
                        field_strength=tesla if kind == "swi" else None,
                        manufacturer=manufacturer,
                        scanner_model=model,
                    )
            if quantify:
                run, _ = services.run_request(user=user, scan=scans["swi"], enqueue=False)
                services.run_execute(run.pk)
            count += 1
    return count


# --- blinded reads ------------------------------------------------------------------------------

DEMO_RATERS = ("rater1", "rater2")
#: Band contrast (whole precentral gyrus) at which a demo rater starts to see a partial band, and a
#: definite band. MotorBand's demo choice, so that grades follow the quantified band.
PARTIAL_BAND_CONTRAST = 0.06
DEFINITE_BAND_CONTRAST = 0.15
#: How much a rater's perceived contrast wanders around the measured one (per read), and how far a
#: rater's threshold sits from the others' (per rater): the sources of disagreement.
RATER_NOISE_SD = 0.02
RATER_BIAS_SD = 0.01
#: Share of hemispheres a rater grossly misreads (a missed definite band or an artefact called a
#: band): what the adjudication queue is for.
RATER_LAPSE_RATE = 0.015


def _perceived_grade(contrast: float) -> int:
    if contrast < PARTIAL_BAND_CONTRAST:
        return 0
    return 1 if contrast <= DEFINITE_BAND_CONTRAST else 2


def _confidence(contrast: float) -> int:
    margin = min(abs(contrast - PARTIAL_BAND_CONTRAST), abs(contrast - DEFINITE_BAND_CONTRAST))
    return 3 if margin > 0.04 else 2 if margin > 0.015 else 1


def add_reads(*, rng: random.Random, user: Acting = None) -> int:
    """Queue every SWI scan for the two demo raters and have them read it blinded.

    Each rater grades a hemisphere from the quantified band contrast of the whole precentral gyrus
    plus their own threshold shift and per-read noise, so kappas are realistic rather than perfect.
    The rater accounts are created where missing (the demo users come after the extensions).
    """
    from cohort import services as cohort_services
    from cohort.demo import DEMO_PASSWORD
    from imaging import reading
    from imaging.models import Measurement, RunStatus, Scan, ScanKind, Segment

    raters: list[StudyUser] = []
    for username in DEMO_RATERS:
        existing = StudyUser.objects.filter(username=username).first()
        if existing is None or not roles.is_rater(existing):
            existing = cohort_services.study_user_save(
                username=username, role=roles.RATER, password=DEMO_PASSWORD
            )
        raters.append(existing)
    scans = list(Scan.objects.filter(kind=ScanKind.SWI).order_by("pk"))
    reading.read_assignments_auto(
        user=None, k=len(raters), seed=rng.randrange(2**31), scans=scans, raters=raters
    )
    contrast: dict[tuple[int, str], float] = {}
    measurements = Measurement.objects.filter(
        run__scan__in=scans, run__status=RunStatus.DONE, segment=Segment.WHOLE
    ).order_by("run__finished_at", "run_id")
    for m in measurements.values("run__scan_id", "hemisphere", "band_contrast"):
        if m["band_contrast"] is not None:
            contrast[(m["run__scan_id"], m["hemisphere"])] = m["band_contrast"]
    bias = {r.pk: rng.gauss(0, RATER_BIAS_SD) for r in raters}
    count = 0
    for rater in raters:
        for item in reading.reading_queue(rater=rater):
            grades = {}
            margins = []
            for hemisphere in ("L", "R"):
                true = contrast.get((item.scan_id, hemisphere))
                if true is None:
                    break
                seen = true + bias[rater.pk] + rng.gauss(0, RATER_NOISE_SD)
                grade = _perceived_grade(seen)
                if grade != 1 and rng.random() < RATER_LAPSE_RATE:
                    grade = 2 - grade
                grades[hemisphere] = grade
                margins.append(_confidence(seen))
            if len(grades) < 2:
                continue  # not quantified: nothing to base a simulated grade on
            reading.read_submit(
                rater=rater,
                scan=Scan.objects.get(pk=item.scan_id),
                left_grade=grades["L"],
                right_grade=grades["R"],
                confidence=min(margins),
            )
            count += 1
    return count
