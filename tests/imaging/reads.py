"""Builders of the blinded-read tests: SWI scans uploaded through the services, and raters."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from cohort import services as cohort_services
from imaging import services
from imaging.models import Scan
from tests.factories import make_subject, make_visit

_seeds = itertools.count(100)


def make_rater(username: str) -> Any:
    return cohort_services.study_user_save(username=username, role="rater", password="pw-Test-123!")


def make_swi(
    tmp_path: Path, *, visit: Any = None, shape: tuple[int, int, int] = (12, 12, 10)
) -> Scan:
    """A small random SWI volume uploaded to a fresh subject's V1 (or to ``visit``)."""
    seed = next(_seeds)
    data = np.random.default_rng(seed).uniform(50, 150, size=shape).astype(np.float32)
    path = tmp_path / f"swi_{seed}.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 1.5, 1.0])), path)
    if visit is None:
        visit = make_visit(make_subject(), "V1")
    with path.open("rb") as handle:
        return services.scan_upload(
            user=None, visit=visit, kind="swi", upload=handle, name=path.name, field_strength=3.0
        )
