"""Cohort data model: study settings, sites, subjects, visits, Penn UMN exams, ALSFRS-R, clinical events.

Every row validates itself in ``clean()`` (ranges, scale limits, dates against the subject's baseline,
enrolment and death) so the API, the pages, the importer and the admin share one set of rules; the
services in ``cohort.services`` are the only writers and keep the derived fields in step.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from cohort import scales
from cohort.schedule import (
    DEFAULT_INTERVAL_MONTHS,
    DEFAULT_PLANNED_VISITS,
    DEFAULT_WINDOW_DAYS,
    Schedule,
    visit_number,
)
from core.roles import CLINICAL_RECORD_READERS
from core.scoping import SiteScopedQuerySet

STUDY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SITE_CODE_RE = re.compile(r"^[A-Z0-9]{2,10}$")
MIN_AGE_AT_ENROLMENT_YEARS = 18
MAX_AGE_AT_ENROLMENT_YEARS = 100
MAX_SCHEDULE_AHEAD_DAYS = 2 * 366
#: Pre-specified follow-up for the reference standard (domain.md: "e.g. 12 months").
DEFAULT_REFERENCE_STANDARD_MONTHS = 12


class Group(models.TextChoices):
    ALS = "ALS", "Amyotrophic lateral sclerosis"
    PLS = "PLS", "Primary lateral sclerosis"
    CONTROL = "CONTROL", "Healthy control"
    MIMIC = "MIMIC", "ALS mimic"
    SUSPECTED = "SUSPECTED", "Suspected ALS (under investigation)"


class Sex(models.TextChoices):
    F = "F", "Female"
    M = "M", "Male"


class Handedness(models.TextChoices):
    R = "R", "Right"
    L = "L", "Left"
    A = "A", "Ambidextrous"


class OnsetRegion(models.TextChoices):
    BULBAR = "bulbar", "Bulbar"
    UPPER_LIMB = "upper_limb", "Upper limb"
    LOWER_LIMB = "lower_limb", "Lower limb"
    RESPIRATORY = "respiratory", "Respiratory"
    GENERALIZED = "generalized", "Generalized"


class VisitStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    COMPLETED = "completed", "Completed"
    MISSED = "missed", "Missed"


class EventKind(models.TextChoices):
    DEATH = "death", "Death"
    TRACHEOSTOMY = "tracheostomy", "Tracheostomy"
    PAV = "pav", "Permanent assisted ventilation"
    NIV = "niv", "Start of non-invasive ventilation"
    GASTROSTOMY = "gastrostomy", "Gastrostomy"
    WITHDRAWAL = "withdrawal", "Withdrawal from the study"


class Study(models.Model):
    """The study's settings (one row): the visit schedule and its window."""

    name = models.CharField(max_length=200, default="MotorBand study")
    interval_months = models.PositiveSmallIntegerField(
        default=DEFAULT_INTERVAL_MONTHS, validators=[MinValueValidator(1), MaxValueValidator(24)]
    )
    window_days = models.PositiveSmallIntegerField(
        default=DEFAULT_WINDOW_DAYS, validators=[MinValueValidator(0), MaxValueValidator(180)]
    )
    planned_visits = models.PositiveSmallIntegerField(
        default=DEFAULT_PLANNED_VISITS, validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    reference_standard_months = models.PositiveSmallIntegerField(
        default=DEFAULT_REFERENCE_STANDARD_MONTHS,
        validators=[MinValueValidator(0), MaxValueValidator(120)],
        help_text="The diagnostic study's reference standard is the diagnosis made at least this "
        "many months after enrolment (or the last one, when follow-up ended earlier by death or "
        "withdrawal), by a reference-standard assessor blinded to MBS reads and band values.",
    )
    band_contrast_cutoff = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-1.0), MaxValueValidator(1.0)],
        help_text="The study's pre-specified band contrast cut-off (positive at or above it) for "
        "diagnostic accuracy; empty: the analysis picks the data's best cut-off and corrects "
        "its optimism.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "study"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current(cls) -> Study:
        study, _ = cls.objects.get_or_create(pk=1)
        return study

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.interval_months, self.window_days, self.planned_visits)

    def reference_standard_due(self, enrolled_on: dt.date) -> dt.date:
        """The first day the final diagnosis may be made for a subject enrolled on this date."""
        days = round(self.reference_standard_months * scales.MONTH_DAYS)
        return enrolled_on + dt.timedelta(days=days)


class Site(models.Model):
    code = models.CharField(max_length=10, unique=True, help_text="Upper-case letters and digits.")
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1, editable=False)
    history = HistoricalRecords()

    SITE_LOOKUP = "id"
    READ_ROLES = CLINICAL_RECORD_READERS
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"

    def clean(self) -> None:
        if self.code and not SITE_CODE_RE.match(self.code):
            raise ValidationError(
                {"code": "Site code must be 2-10 upper-case letters or digits (e.g. EDM)."}
            )


class SiteMembership(models.Model):
    """A user's membership of a site; the user's role is a Django group (see core.roles)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_memberships"
    )
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="memberships")
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "site"], name="unique_site_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.site.code}"


def _age_years(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


class Subject(models.Model):
    study_id = models.CharField(max_length=32, unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="subjects")
    group = models.CharField(max_length=10, choices=Group.choices)
    sex = models.CharField(max_length=1, choices=Sex.choices)
    birth_date = models.DateField()
    handedness = models.CharField(max_length=1, choices=Handedness.choices, blank=True, default="")
    onset_date = models.DateField(null=True, blank=True, help_text="First symptom (not controls).")
    onset_region = models.CharField(
        max_length=12, choices=OnsetRegion.choices, null=True, blank=True
    )
    diagnosis_date = models.DateField(null=True, blank=True)
    enrolled_on = models.DateField()
    last_known_alive = models.DateField(
        null=True,
        blank=True,
        help_text="When vital status was last checked and the subject was alive; survival "
        "analyses censor subjects without the event here (or at their last visit, if later).",
    )
    comment = models.TextField(blank=True, default="")
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    SITE_LOOKUP = "site_id"
    READ_ROLES = CLINICAL_RECORD_READERS
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["study_id"]
        indexes = [models.Index(fields=["site", "group"])]

    def __str__(self) -> str:
        return self.study_id

    @property
    def participant_label(self) -> str:
        """BIDS participant label: the study id without non-alphanumerics (EDM-0001 -> EDM0001)."""
        return re.sub(r"[^A-Za-z0-9]", "", self.study_id)

    @property
    def age_at_enrolment(self) -> int | None:
        if self.birth_date and self.enrolled_on:
            return _age_years(self.birth_date, self.enrolled_on)
        return None

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.study_id and not STUDY_ID_RE.match(self.study_id):
            errors["study_id"] = (
                "Study id must start with a letter or digit and hold only letters, digits, '-' "
                "or '_' (at most 32 characters), e.g. EDM-0001."
            )
        if self.group == Group.SUSPECTED and self.diagnosis_date:
            errors["diagnosis_date"] = (
                "A subject under investigation has no diagnosis date: record the diagnoses made "
                "at follow-up in the subject's diagnosis history."
            )
        if self.group == Group.CONTROL:
            for name in ("onset_date", "onset_region", "diagnosis_date"):
                if getattr(self, name):
                    errors[name] = "Healthy controls have no onset or diagnosis: leave it empty."
        elif self.group in (Group.ALS, Group.PLS) and not self.onset_date:
            errors["onset_date"] = f"{self.group} subjects need a symptom onset date."
        if self.birth_date and self.enrolled_on:
            age = _age_years(self.birth_date, self.enrolled_on)
            if not MIN_AGE_AT_ENROLMENT_YEARS <= age <= MAX_AGE_AT_ENROLMENT_YEARS:
                errors["birth_date"] = (
                    f"Age at enrolment must be {MIN_AGE_AT_ENROLMENT_YEARS}-"
                    f"{MAX_AGE_AT_ENROLMENT_YEARS} years (got {age})."
                )
        if self.onset_date:
            if self.birth_date and self.onset_date <= self.birth_date:
                errors["onset_date"] = "Symptom onset must be after the birth date."
            elif self.enrolled_on and self.onset_date > self.enrolled_on:
                errors["onset_date"] = "Symptom onset cannot be after enrolment."
        if self.diagnosis_date:
            if self.onset_date and self.diagnosis_date < self.onset_date:
                errors["diagnosis_date"] = "Diagnosis cannot be before symptom onset."
            elif self.enrolled_on and (self.diagnosis_date - self.enrolled_on).days > 365:
                errors["diagnosis_date"] = "Diagnosis is more than a year after enrolment."
        if self.enrolled_on and self.enrolled_on > dt.date.today():
            errors["enrolled_on"] = "Enrolment date cannot be in the future."
        if self.last_known_alive:
            if self.last_known_alive > dt.date.today():
                errors["last_known_alive"] = "A vital status check cannot be in the future."
            elif self.enrolled_on and self.last_known_alive < self.enrolled_on:
                errors["last_known_alive"] = (
                    f"The vital status check cannot be before enrolment ({self.enrolled_on})."
                )
            elif self.pk:
                death = self.death_date()
                if death and self.last_known_alive > death:
                    errors["last_known_alive"] = (
                        f"The subject died on {death}: they cannot be known alive after it."
                    )
        if self.pk and self.enrolled_on:
            first_event = self.events.order_by("date").first()
            if first_event and first_event.date < self.enrolled_on:
                errors["enrolled_on"] = (
                    f"Enrolment cannot be after the subject's {first_event.kind} event "
                    f"({first_event.date})."
                )
            if self.group == Group.CONTROL and self.events.exclude(kind=EventKind.WITHDRAWAL):
                errors["group"] = "A subject with clinical events cannot be a healthy control."
            if self.group == Group.CONTROL and self.diagnoses.exists():
                errors["group"] = "A subject with a diagnosis history cannot be a healthy control."
        if errors:
            raise ValidationError(errors)

    def baseline_visit(self) -> Visit | None:
        return self.visits.filter(visit_code="V1").first()

    def death_date(self) -> dt.date | None:
        death = self.events.filter(kind=EventKind.DEATH).first()
        return death.date if death else None


class Visit(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="visits")
    visit_code = models.CharField(
        max_length=4, help_text="V1 baseline, V2 month 4, V3 month 8, ..."
    )
    date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=VisitStatus.choices, default=VisitStatus.COMPLETED
    )
    comment = models.TextField(blank=True, default="")
    # Derived by cohort.services from the subject's baseline and the study schedule.
    days_from_baseline = models.IntegerField(null=True, blank=True, editable=False)
    months_from_onset = models.FloatField(null=True, blank=True, editable=False)
    target_date = models.DateField(null=True, blank=True, editable=False)
    in_window = models.BooleanField(null=True, editable=False)
    # Derived by cohort.services from the visit's ALSFRS-R and the subject's events (cohort.staging).
    kings_stage = models.CharField(
        max_length=2,
        null=True,
        blank=True,
        editable=False,
        help_text="King's stage 1-3, 4a (gastrostomy) or 4b (respiratory failure); null when "
        "not staged.",
    )
    kings_nutritional_failure = models.BooleanField(null=True, editable=False)
    kings_respiratory_failure = models.BooleanField(null=True, editable=False)
    mitos_stage = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False, help_text="MiToS stage 0-5."
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    SITE_LOOKUP = "subject__site_id"
    READ_ROLES = CLINICAL_RECORD_READERS
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["subject__study_id", "visit_code"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "visit_code"], name="unique_visit_code")
        ]

    def __str__(self) -> str:
        return f"{self.subject.study_id} {self.visit_code}"

    @property
    def visit_number(self) -> int:
        return visit_number(self.visit_code)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        try:
            number = visit_number(self.visit_code)
        except ValueError as exc:
            raise ValidationError({"visit_code": str(exc)}) from exc
        if self.status == VisitStatus.COMPLETED and not self.date:
            errors["date"] = "A completed visit needs its date."
        if self.subject_id is None:
            raise ValidationError(errors or {"subject": "A visit belongs to a subject."})
        subject = self.subject
        others = Visit.objects.filter(subject=subject).exclude(pk=self.pk)
        if others.filter(visit_code=self.visit_code).exists():
            errors["visit_code"] = f"{subject.study_id} already has a {self.visit_code} visit."
        if self.date:
            if self.date > dt.date.today() + dt.timedelta(days=MAX_SCHEDULE_AHEAD_DAYS):
                errors["date"] = "A visit cannot be scheduled more than two years ahead."
            elif self.date > dt.date.today() and self.status != VisitStatus.SCHEDULED:
                errors["date"] = "Only a scheduled visit can have a date in the future."
            if number == 1:
                if subject.enrolled_on and self.date < subject.enrolled_on:
                    errors["date"] = (
                        f"The baseline visit cannot be before enrolment ({subject.enrolled_on})."
                    )
                later = others.filter(date__lt=self.date).exclude(date=None).first()
                if later:
                    errors["date"] = (
                        f"The baseline cannot be after {later.visit_code} ({later.date})."
                    )
            else:
                baseline = others.filter(visit_code="V1").first()
                if baseline is None or baseline.date is None:
                    errors["visit_code"] = (
                        f"Enter the baseline visit (V1) with its date before {self.visit_code}."
                    )
                elif self.date <= baseline.date:
                    errors["date"] = f"Must be after the baseline visit (V1 on {baseline.date})."
            death = subject.death_date() if subject.pk else None
            if death and self.date > death and self.status != VisitStatus.MISSED:
                errors["date"] = f"No visit can take place after the subject's death ({death})."
        if errors:
            raise ValidationError(errors)


def _item_fields(names: tuple[str, ...], low: int, high: int) -> dict[str, models.Field]:
    return {
        name: models.PositiveSmallIntegerField(
            null=True, blank=True, validators=[MinValueValidator(low), MaxValueValidator(high)]
        )
        for name in names
    }


# Abstract bases generated from the scale definitions, so the column names live in one place.
UmnItems = type(
    "UmnItems",
    (models.Model,),
    {
        "__module__": __name__,
        "Meta": type("Meta", (), {"abstract": True}),
        **_item_fields(scales.UMN_ITEMS, scales.UMN_ITEM_MIN, scales.UMN_ITEM_MAX),
    },
)
AlsfrsItems = type(
    "AlsfrsItems",
    (models.Model,),
    {
        "__module__": __name__,
        "Meta": type("Meta", (), {"abstract": True}),
        **_item_fields(scales.ALSFRS_ITEMS, scales.ALSFRS_ITEM_MIN, scales.ALSFRS_ITEM_MAX),
        # A missing-data code per item (CDASH --STAT per question, REDCap ND/UNK): why it has no
        # score. Null where the item has a score (or was left empty by an older client).
        **{
            field: models.CharField(
                max_length=10,
                null=True,
                blank=True,
                default=None,
                choices=list(scales.ALSFRS_MISSING_CODES.items()),
                help_text=f"Why item {item[1:]} has no score: not done or unknown.",
            )
            for item, field in scales.ALSFRS_MISSING_FIELDS.items()
        },
    },
)


def _visit_must_be_completed(visit: Visit | None, form: str) -> dict[str, str]:
    if visit is not None and visit.status == VisitStatus.MISSED:
        return {"visit": f"A missed visit has no {form}: set the visit to completed first."}
    return {}


class UmnExam(UmnItems):  # type: ignore[misc,valid-type]
    """Itemized Penn upper motor neuron score of one visit; subscores derive from the items."""

    visit = models.OneToOneField(Visit, on_delete=models.CASCADE, related_name="umn_exam")
    bulbar = models.PositiveSmallIntegerField(null=True, editable=False)
    right_upper = models.PositiveSmallIntegerField(null=True, editable=False)
    left_upper = models.PositiveSmallIntegerField(null=True, editable=False)
    right_lower = models.PositiveSmallIntegerField(null=True, editable=False)
    left_lower = models.PositiveSmallIntegerField(null=True, editable=False)
    total = models.PositiveSmallIntegerField(null=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    SITE_LOOKUP = "visit__subject__site_id"
    READ_ROLES = CLINICAL_RECORD_READERS
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "Penn UMN exam"

    def __str__(self) -> str:
        return f"UMN {self.visit}"

    def items(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in scales.UMN_ITEMS}

    def clean(self) -> None:
        errors = scales.umn_item_errors(self.items())
        errors.update(_visit_must_be_completed(getattr(self, "visit", None), "UMN exam"))
        if errors:
            raise ValidationError(errors)

    def derive(self) -> None:
        for name, value in scales.umn_subscores(self.items()).items():
            setattr(self, name, value)

    @property
    def contralateral(self) -> dict[str, int | None]:
        """Contralateral limb UMN per hemisphere (L = right limbs, R = left limbs)."""
        return scales.contralateral_umn(
            {
                r: getattr(self, r)
                for r in ("right_upper", "left_upper", "right_lower", "left_lower")
            }
        )


class AlsfrsR(AlsfrsItems):  # type: ignore[misc,valid-type]
    """ALSFRS-R of one visit; domain subscores, total and ΔFS (baseline only) derive from the items."""

    visit = models.OneToOneField(Visit, on_delete=models.CASCADE, related_name="alsfrs")
    q5_gastrostomy = models.BooleanField(
        default=False, help_text="Item 5 scored as 5b (with gastrostomy)."
    )
    form_status = models.CharField(
        max_length=10,
        choices=list(scales.ALSFRS_FORM_STATUSES.items()),
        default=scales.ALSFRS_FORM_DONE,
        help_text="Not done: the whole form was not done at this visit (CDASH QSSTAT).",
    )
    not_done_reason = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Why the form was not done, e.g. the subject could not attend (CDASH QSREASND).",
    )
    bulbar = models.PositiveSmallIntegerField(null=True, editable=False)
    fine_motor = models.PositiveSmallIntegerField(null=True, editable=False)
    gross_motor = models.PositiveSmallIntegerField(null=True, editable=False)
    respiratory = models.PositiveSmallIntegerField(null=True, editable=False)
    total = models.PositiveSmallIntegerField(null=True, editable=False)
    delta_fs = models.FloatField(
        null=True, editable=False, help_text="(48 - total at V1) / months from onset to V1."
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    SITE_LOOKUP = "visit__subject__site_id"
    READ_ROLES = CLINICAL_RECORD_READERS
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "ALSFRS-R"
        verbose_name_plural = "ALSFRS-R"

    def __str__(self) -> str:
        return f"ALSFRS-R {self.visit}"

    def items(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in scales.ALSFRS_ITEMS}

    def missing(self) -> dict[str, str | None]:
        """Item -> its missing-data code (``not_done``, ``unknown``) or None."""
        return {item: getattr(self, f) for item, f in scales.ALSFRS_MISSING_FIELDS.items()}

    @property
    def total_note(self) -> str:
        """Why the total is not computed ("Total not computed: item 8 (Walking) not done.")."""
        if self.total is not None:
            return ""
        return scales.alsfrs_total_note(
            self.items(),
            self.missing(),
            form_status=self.form_status,
            not_done_reason=self.not_done_reason,
        )

    def clean(self) -> None:
        errors = scales.alsfrs_item_errors(self.items())
        for name, message in scales.alsfrs_missing_errors(
            self.items(),
            self.missing(),
            form_status=self.form_status,
            not_done_reason=self.not_done_reason,
        ).items():
            errors.setdefault(name, message)
        if self.form_status == scales.ALSFRS_FORM_NOT_DONE and self.q5_gastrostomy:
            errors["q5_gastrostomy"] = "A form that was not done has no item 5 to score as 5b."
        errors.update(_visit_must_be_completed(getattr(self, "visit", None), "ALSFRS-R"))
        if errors:
            raise ValidationError(errors)

    def derive(self) -> None:
        for name, value in scales.alsfrs_subscores(self.items()).items():
            setattr(self, name, value)
        visit = self.visit
        self.delta_fs = None
        if visit.visit_code == "V1":
            self.delta_fs = scales.delta_fs(self.total, visit.months_from_onset)


class ClinicalEvent(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=15, choices=EventKind.choices)
    date = models.DateField()
    comment = models.TextField(blank=True, default="")
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    SITE_LOOKUP = "subject__site_id"
    READ_ROLES = CLINICAL_RECORD_READERS
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["subject__study_id", "date"]
        indexes = [models.Index(fields=["kind", "date"])]
        constraints = [
            # clean() says it in words; the database keeps it under concurrent requests too.
            models.UniqueConstraint(
                fields=["subject", "kind"],
                name="one_event_of_a_kind_per_subject",
                violation_error_message="The subject already has an event of this kind (each "
                "kind is recorded once per subject): reload the subject and correct that event.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject.study_id} {self.kind} {self.date}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.subject_id is None:
            raise ValidationError({"subject": "An event belongs to a subject."})
        subject = self.subject
        if self.date:
            if subject.enrolled_on and self.date < subject.enrolled_on:
                errors["date"] = (
                    f"Events are recorded from enrolment on ({subject.enrolled_on}); "
                    f"this {self.kind} is before it."
                )
            elif self.date > dt.date.today():
                errors["date"] = "An event date cannot be in the future."
        if subject.group == Group.CONTROL and self.kind and self.kind != EventKind.WITHDRAWAL:
            errors["kind"] = "Healthy controls have no clinical events other than withdrawal."
        others = ClinicalEvent.objects.filter(subject=subject).exclude(pk=self.pk)
        if self.kind and others.filter(kind=self.kind).exists():
            errors["kind"] = f"{subject.study_id} already has a {self.kind} event."
        death = others.filter(kind=EventKind.DEATH).first()
        if death and self.date and self.date > death.date:
            errors["date"] = f"No event can follow the subject's death ({death.date})."
        # Read from the database: the caller's subject object may predate the last check.
        alive = (
            Subject.objects.filter(pk=subject.pk).values_list("last_known_alive", flat=True).first()
        )
        if self.kind == EventKind.DEATH and self.date and alive and self.date < alive:
            errors["date"] = (
                f"The subject was known alive on {alive} (last vital status check): death "
                "cannot be before it."
            )
        if self.kind == EventKind.DEATH and self.date:
            after = (
                subject.visits.filter(date__gt=self.date)
                .exclude(status=VisitStatus.MISSED)
                .order_by("date")
                .first()
            )
            if after:
                errors["date"] = f"Death cannot be before visit {after.visit_code} ({after.date})."
            later_event = others.filter(date__gt=self.date).first()
            if later_event and "date" not in errors:
                errors["date"] = (
                    f"Death cannot be before the {later_event.kind} event ({later_event.date})."
                )
        if errors:
            raise ValidationError(errors)


class GoldCoast(models.TextChoices):
    """Gold Coast criteria for ALS (Shefner et al., Clin Neurophysiol 2020;131:1975-1978)."""

    MET = "met", "Met"
    NOT_MET = "not_met", "Not met"


class ElEscorial(models.TextChoices):
    """Revised El Escorial categories (Brooks et al., ALS Other Motor Neuron Disord 2000;1:293-299)."""

    DEFINITE = "definite", "Clinically definite ALS"
    PROBABLE = "probable", "Clinically probable ALS"
    PROBABLE_LAB = "probable_lab", "Clinically probable ALS, laboratory-supported"
    POSSIBLE = "possible", "Clinically possible ALS"


class Phenotype(models.TextChoices):
    """The diagnosis: a motor neuron disease phenotype, or an alternative diagnosis (a mimic)."""

    ALS = "ALS", "Amyotrophic lateral sclerosis"
    PLS = "PLS", "Primary lateral sclerosis"
    PMA = "PMA", "Progressive muscular atrophy"
    MIMIC = "MIMIC", "ALS mimic (alternative diagnosis)"
    OTHER = "OTHER", "Other diagnosis"


#: Phenotypes that are motor neuron disease (the Gold Coast criteria apply to them).
MND_PHENOTYPES = frozenset({Phenotype.ALS, Phenotype.PLS, Phenotype.PMA})


class Diagnosis(models.Model):
    """One dated diagnosis in a subject's history, entered by a clinician and never derived.

    A subject enrolled under investigation (``SUSPECTED``) gathers diagnoses as follow-up goes on;
    the one flagged ``reference_standard`` is the final diagnosis that the diagnostic accuracy
    study reads the motor band sign against (STARD 2015: the reference standard). Only a
    reference-standard assessor, who sees no MBS read or band value, may flag it, on a date the
    study's rule allows (``Study.reference_standard_months`` after enrolment, or the last
    diagnosis once follow-up has ended by death or withdrawal).
    """

    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="diagnoses")
    date = models.DateField()
    gold_coast = models.CharField(
        max_length=7,
        choices=GoldCoast.choices,
        help_text="Gold Coast criteria for ALS (Shefner 2020): met or not met.",
    )
    el_escorial = models.CharField(
        max_length=12,
        choices=ElEscorial.choices,
        null=True,
        blank=True,
        help_text="Revised El Escorial category (Brooks 2000), where one was given.",
    )
    phenotype = models.CharField(max_length=5, choices=Phenotype.choices)
    alternative = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="The alternative diagnosis of a mimic or other diagnosis (e.g. cervical "
        "spondylotic myelopathy, multifocal motor neuropathy).",
    )
    reference_standard = models.BooleanField(
        default=False, help_text="The final diagnosis the diagnostic study reads as the reference."
    )
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="Who entered the diagnosis.",
    )
    comment = models.TextField(blank=True, default="")
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    SITE_LOOKUP = "subject__site_id"
    READ_ROLES = CLINICAL_RECORD_READERS
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["subject__study_id", "date", "id"]
        verbose_name_plural = "diagnoses"
        constraints = [
            models.UniqueConstraint(
                fields=["subject"],
                condition=models.Q(reference_standard=True),
                name="one_reference_standard_per_subject",
                violation_error_message="The subject already has a reference-standard diagnosis: "
                "unflag it first (with a reason) to choose another.",
            ),
            models.UniqueConstraint(
                fields=["subject", "date"],
                name="one_diagnosis_per_subject_and_date",
                violation_error_message="The subject already has a diagnosis on this date: "
                "correct that one instead.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject.study_id} {self.phenotype} {self.date}"

    @property
    def is_mnd(self) -> bool:
        return self.phenotype in MND_PHENOTYPES

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.subject_id is None:
            raise ValidationError({"subject": "A diagnosis belongs to a subject."})
        subject = self.subject
        if subject.group == Group.CONTROL:
            errors["subject"] = "Healthy controls have no diagnosis history."
        if self.date:
            if self.date > dt.date.today():
                errors["date"] = "A diagnosis date cannot be in the future."
            elif subject.onset_date and self.date < subject.onset_date:
                errors["date"] = f"A diagnosis cannot precede symptom onset ({subject.onset_date})."
            death = subject.death_date() if subject.pk else None
            if death and self.date > death and "date" not in errors:
                errors["date"] = f"The subject died on {death}: no diagnosis can follow."
        if self.phenotype in (Phenotype.MIMIC, Phenotype.OTHER) and not self.alternative.strip():
            errors["alternative"] = (
                "Name the alternative diagnosis (e.g. multifocal motor neuropathy)."
            )
        if self.phenotype and self.phenotype not in MND_PHENOTYPES:
            if self.el_escorial:
                errors["el_escorial"] = (
                    "El Escorial categories grade ALS: leave it empty for a mimic or other diagnosis."
                )
            if self.gold_coast == GoldCoast.MET:
                errors["gold_coast"] = (
                    "The Gold Coast criteria diagnose ALS: they cannot be met for a mimic or other "
                    "diagnosis."
                )
        if self.reference_standard and self.date and subject.enrolled_on:
            errors.update(self._reference_rule_errors())
        if errors:
            raise ValidationError(errors)

    def _reference_rule_errors(self) -> dict[str, str]:
        """The study's rule for when the reference standard may be read (see the class doc)."""
        subject = self.subject
        study = Study.current()
        months = study.reference_standard_months
        due = study.reference_standard_due(subject.enrolled_on)
        if self.date >= due:
            return {}
        ended = (
            subject.events.filter(kind__in=(EventKind.DEATH, EventKind.WITHDRAWAL))
            .order_by("date")
            .first()
            if subject.pk
            else None
        )
        if ended is not None:
            later = subject.diagnoses.filter(date__gt=self.date).exclude(pk=self.pk)
            if not later.exists():
                return {}
            return {
                "reference_standard": (
                    f"Follow-up ended by {ended.kind} on {ended.date}: the reference standard is "
                    "the last diagnosis, and a later one exists."
                )
            }
        return {
            "reference_standard": (
                f"The study reads the reference standard {months} months after enrolment (from "
                f"{due}); this diagnosis is dated {self.date}. Record it as a diagnosis now and "
                "flag the one made at follow-up."
            )
        }
