"""Fit checks of a quantification run: what must hold before its numbers count in an analysis.

A run whose checks all pass is ``done``; one that fails any check is ``needs_review`` and waits
for a person (``imaging.services.run_qc_set``): analyses leave it out until it passes review.
Each check is recorded with the run as ``{name, passed, value, limit, message}``. The limits:

- ``whole_gyrus_measured``: both hemispheres' whole precentral gyrus must carry a value. A missing
  one means no labels, too few deep voxels, or too little of the gyrus inside the image.
- ``motor_coverage`` (``MIN_MOTOR_COVERAGE`` = the band engine's minimum segment coverage, 0.8):
  the share of each hemisphere's labelled precentral voxels inside the image's field of view. A
  slab that cuts the top of the gyrus measures what remains, which is not the gyrus.
- ``band_contrast_plausible`` (SWI and T2*-weighted magnitude, ``MAX_ABS_BAND_CONTRAST`` = 0.5):
  published motor band contrasts lie between 0 and about 0.3 (a true 10% darkening reads about
  0.06); |contrast| beyond 0.5 means the labels sample other tissue (wrong space or subject).
- ``susceptibility_difference_plausible`` (QSM, ``MAX_ABS_DIFFERENCE_PPB`` = 150 ppb): cortical
  iron raises deep-layer susceptibility by tens of ppb; beyond 150 ppb the labels sample veins,
  air or bone.
- ``reference_homogeneity`` (SWI, ``MAX_REFERENCE_CV`` = 0.35): the deep postcentral reference is
  one tissue; a coefficient of variation above 0.35 means it straddles tissues or background, as a
  label map from another person or space does.
- ``tissue_ordering`` (SWI and T2*-weighted/GRE magnitude, ``MIN_WM_OVER_CORTEX`` = 0.02): on
  magnitude, white matter is brighter than cortex on average (domain.md, method 2.0.0). The band
  engine averages the image over the labels' white matter (aseg 2/41) and cortex (aparc parcels,
  or aseg 3/42) in the analysed region; white matter must exceed cortex by at least 2% of the
  cortex mean (``value`` = white matter mean / cortex mean - 1; MotorBand's choice). Measured on the
  phantom (white matter 110, cortex 100, fluid 150) and on bert's real folding painted with that
  SWI ordering: matched labels +0.13 and +0.09; labels moved by 3-5 mm, flipped left to right or
  from a larger brain -0.13 to +0.007, as a label map of another subject, session or space samples
  both tissues alike. Limits: a smaller brain's labels nested in white matter, or a move along the
  cortex, can still pass, and on a T1-like contrast (dark fluid) a mismatch is not seen. Not
  checked on QSM, whose tissue contrast differs.
- ``registration``: informational. With a ``t1`` the run records the rigid registration of the
  label map's anatomy to the SWI; without one it says the world coordinates were used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from imaging.band.measure import MIN_SEGMENT_COVERAGE

MIN_MOTOR_COVERAGE = MIN_SEGMENT_COVERAGE
MAX_ABS_BAND_CONTRAST = 0.5
MAX_ABS_DIFFERENCE_PPB = 150.0
MAX_REFERENCE_CV = 0.35
MIN_WM_OVER_CORTEX = 0.02
HEMISPHERE_NAMES = {"L": "left", "R": "right"}


@dataclass(frozen=True)
class Check:
    """One fit check of a run, as recorded with it (contract: ``checks``)."""

    name: str
    passed: bool
    value: float | None
    limit: float | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _whole_rows(measurements: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {m["hemisphere"]: m for m in measurements if m.get("segment") == "whole"}


def _measured(row: Mapping[str, Any] | None, input_kind: str) -> bool:
    key = "deep_minus_reference_ppb" if input_kind == "qsm" else "band_contrast"
    return row is not None and row.get(key) is not None


def _largest_within(
    measurements: Sequence[Mapping[str, Any]],
    key: str,
    *,
    name: str,
    limit: float,
    too_far: str,
    fine: str,
) -> Check:
    """Whether the largest |value| of ``key`` over the rows stays within ``limit``."""
    values = [abs(float(m[key])) for m in measurements if m.get(key) is not None]
    largest = max(values) if values else None
    passed = largest is None or largest <= limit
    return Check(
        name,
        passed,
        None if largest is None else round(largest, 4),
        limit,
        fine if passed else too_far.format(largest),
    )


def run_checks(
    measurements: Sequence[Mapping[str, Any]],
    *,
    input_kind: str,
    registration: Mapping[str, Any] | None = None,
    tissue: Mapping[str, Any] | None = None,
) -> list[Check]:
    """The fit checks of one run's measurements (the band engine's rows), in a fixed order.

    ``tissue`` is the band engine's ``TissueMeans.as_dict()`` (``white_matter_mean``,
    ``cortex_mean``) for the tissue ordering check of magnitude images.
    """
    whole = _whole_rows(measurements)
    checks: list[Check] = []

    missing = [h for h in ("L", "R") if not _measured(whole.get(h), input_kind)]
    checks.append(
        Check(
            "whole_gyrus_measured",
            not missing,
            float(2 - len(missing)),
            2.0,
            "Both hemispheres' precentral gyri were measured."
            if not missing
            else "Not measured: "
            + "; ".join(
                f"{HEMISPHERE_NAMES[h]} precentral gyrus ({(whole.get(h) or {}).get('reason') or 'no row'})"
                for h in missing
            )
            + ".",
        )
    )

    coverages: dict[str, float] = {
        h: float(row["coverage"]) for h, row in whole.items() if row.get("coverage") is not None
    }
    lowest = min(coverages.values()) if coverages else None
    if lowest is None:
        checks.append(
            Check(
                "motor_coverage",
                False,
                None,
                MIN_MOTOR_COVERAGE,
                "The coverage of the precentral gyrus by the image is unknown.",
            )
        )
    else:
        worst = min(coverages, key=lambda h: coverages[h])
        checks.append(
            Check(
                "motor_coverage",
                lowest >= MIN_MOTOR_COVERAGE,
                round(float(lowest), 4),
                MIN_MOTOR_COVERAGE,
                f"The image covers {lowest:.0%} of the {HEMISPHERE_NAMES[worst]} precentral gyrus "
                f"(at least {MIN_MOTOR_COVERAGE:.0%} needed)."
                if lowest < MIN_MOTOR_COVERAGE
                else f"The image covers at least {lowest:.0%} of each precentral gyrus.",
            )
        )

    if input_kind == "qsm":
        checks.append(
            _largest_within(
                measurements,
                "deep_minus_reference_ppb",
                name="susceptibility_difference_plausible",
                limit=MAX_ABS_DIFFERENCE_PPB,
                too_far="A deep-minus-reference difference of {:.0f} ppb is beyond what cortical "
                "iron gives: the labels probably sample veins, air or bone (wrong space?).",
                fine="Susceptibility differences lie within the plausible range.",
            )
        )
    else:
        checks.append(
            _largest_within(
                measurements,
                "band_contrast",
                name="band_contrast_plausible",
                limit=MAX_ABS_BAND_CONTRAST,
                too_far="A band contrast of {:.2f} is beyond any published motor band: the labels "
                "probably sample other tissue (label map of another subject or space?).",
                fine="Band contrasts lie within the plausible range.",
            )
        )
        cvs = {
            h: float(row["reference_sd"]) / float(row["reference_mean"])
            for h, row in whole.items()
            if row.get("reference_sd") is not None and row.get("reference_mean")
        }
        worst_cv = max(cvs.values()) if cvs else None
        checks.append(
            Check(
                "reference_homogeneity",
                worst_cv is None or worst_cv <= MAX_REFERENCE_CV,
                None if worst_cv is None else round(worst_cv, 4),
                MAX_REFERENCE_CV,
                f"The postcentral reference varies by {worst_cv:.0%} of its mean: it straddles "
                "tissues or background, as a label map from another subject or space does."
                if worst_cv is not None and worst_cv > MAX_REFERENCE_CV
                else "The postcentral reference is homogeneous.",
            )
        )
        checks.append(_tissue_ordering(tissue))

    if registration:
        displacement = registration.get("displacement_mm")
        checks.append(
            Check(
                "registration",
                True,
                None if displacement is None else float(displacement),
                None,
                f"The label map was registered to the image ({registration.get('method', 'rigid')}"
                + (f"; it moved {float(displacement):.1f} mm" if displacement is not None else "")
                + ").",
            )
        )
    else:
        checks.append(
            Check(
                "registration",
                True,
                None,
                None,
                "The label map was used in world coordinates: the visit has no T1 to register.",
            )
        )
    return checks


def _tissue_ordering(tissue: Mapping[str, Any] | None) -> Check:
    """White matter brighter than cortex by ``MIN_WM_OVER_CORTEX`` (magnitude images)."""
    wm = None if tissue is None else tissue.get("white_matter_mean")
    cortex = None if tissue is None else tissue.get("cortex_mean")
    if wm is None or cortex is None or float(cortex) <= 0.0:
        return Check(
            "tissue_ordering",
            True,
            None,
            MIN_WM_OVER_CORTEX,
            "Tissue ordering not assessed: too few labelled white matter or cortex voxels in "
            "the analysed region.",
        )
    excess = float(wm) / float(cortex) - 1.0
    passed = excess >= MIN_WM_OVER_CORTEX
    return Check(
        "tissue_ordering",
        passed,
        round(excess, 4),
        MIN_WM_OVER_CORTEX,
        f"White matter is {excess:.0%} brighter than cortex inside the labels, as expected."
        if passed
        else "The label map does not match this image: white matter is not brighter than cortex "
        f"(white matter {float(wm):.4g}, cortex {float(cortex):.4g}, at least "
        f"{MIN_WM_OVER_CORTEX:.0%} brighter expected) — wrong subject, session or space?",
    )


def failed(checks: Iterable[Check | Mapping[str, Any]]) -> list[str]:
    """Names of the failed checks."""
    names = []
    for check in checks:
        data = check.as_dict() if isinstance(check, Check) else check
        if not data["passed"]:
            names.append(str(data["name"]))
    return names
