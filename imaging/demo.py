"""Demo imaging: an SWI phantom and label map per completed visit, uploaded and quantified.

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
from imaging import band, services

DEMO_SHAPE = (64, 64, 64)
DEMO_VOXEL_MM = (1.5, 1.5, 1.5)
# Scanner per site: (manufacturer, model, field strength T, additive contrast offset).
DEMO_SCANNERS = {
    "EDM": ("Siemens", "Prisma", 3.0, 0.0),
    "TOR": ("GE", "Discovery MR750", 3.0, 0.02),
    "MTL": ("Philips", "Achieva", 3.0, -0.01),
}
GROUP_BASE_CONTRAST = {Group.ALS: 0.05, Group.PLS: 0.08, Group.MIMIC: 0.015, Group.CONTROL: 0.01}
UMN_CONTRAST_PER_POINT = 0.012  # per contralateral limb UMN point (0-14)


def _true_contrast(rng: random.Random, visit: Visit, offset: float) -> tuple[float, float]:
    group = visit.subject.group
    exam = getattr(visit, "umn_exam", None)
    contra = exam.contralateral if exam is not None else {"L": 0, "R": 0}
    values = []
    for hemisphere in ("L", "R"):
        signal = GROUP_BASE_CONTRAST[group] + UMN_CONTRAST_PER_POINT * (contra[hemisphere] or 0)
        values.append(max(0.0, min(0.45, signal + offset + rng.gauss(0, 0.015))))
    return values[0], values[1]


def add_scans(*, rng: random.Random, user: Any = None, quantify: bool = True) -> int:
    """Upload an SWI phantom and label map for every completed visit; quantify them."""
    visits = (
        Visit.objects.filter(status=VisitStatus.COMPLETED)
        .select_related("subject__site", "umn_exam")
        .order_by("subject__study_id", "visit_code")
    )
    count = 0
    with tempfile.TemporaryDirectory(prefix="motorband-demo-") as tmp:
        for visit in visits:
            manufacturer, model, tesla, offset = DEMO_SCANNERS.get(
                visit.subject.site.code, ("Siemens", "Skyra", 3.0, 0.0)
            )
            left, right = _true_contrast(rng, visit, offset)
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
