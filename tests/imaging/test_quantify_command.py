"""`manage.py quantify`: pending runs with a progress bar, in one process or several."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from imaging.models import QuantificationRun, RunStatus
from tests.factories import make_subject, make_visit
from tests.imaging.test_services import upload


def _scans(phantom_files, n: int, tmp_path):
    """n visits with an SWI and a label map each (distinct files: uploads are de-duplicated)."""
    import nibabel as nib
    import numpy as np

    swi_img = nib.load(phantom_files["swi"])
    scans = []
    for i in range(n):
        visit = make_visit(make_subject(), "V1")
        path = tmp_path / f"swi_{i}.nii.gz"
        nib.save(nib.Nifti1Image(np.asarray(swi_img.dataobj) + i, swi_img.affine), path)
        scans.append(upload(visit, "swi", path))
        labels = tmp_path / f"labels_{i}.nii.gz"
        lab = nib.load(phantom_files["labels"])
        data = np.asarray(lab.dataobj).copy()
        data[0, 0, i] = 0 if data[0, 0, i] else 24  # a different file, the same motor labels
        nib.save(nib.Nifti1Image(data, lab.affine), labels)
        upload(visit, "labels", labels)
    return scans


@pytest.mark.django_db
def test_quantify_all_runs_pending_scans_once(phantom_files, tmp_path, capsys):
    scans = _scans(phantom_files, 2, tmp_path)
    call_command("quantify", "--all")
    captured = capsys.readouterr()
    assert "2 of 2 runs done" in captured.out
    assert "Quantifying" in captured.err  # the progress bar
    assert QuantificationRun.objects.filter(status=RunStatus.DONE).count() == 2
    call_command("quantify", "--all")
    assert "Nothing to quantify" in capsys.readouterr().out
    call_command("quantify", "--scan", str(scans[0].pk))
    assert "Nothing to quantify" in capsys.readouterr().out


@pytest.mark.django_db
def test_quantify_unknown_scan_is_an_error():
    with pytest.raises(CommandError, match="No scan with id 999"):
        call_command("quantify", "--scan", "999")


@pytest.mark.django_db(transaction=True)
def test_quantify_with_several_worker_processes(phantom_files, tmp_path, capsys):
    _scans(phantom_files, 4, tmp_path)
    call_command("quantify", "--all", "--workers", "2")
    assert "4 of 4 runs done" in capsys.readouterr().out
    assert QuantificationRun.objects.filter(status=RunStatus.DONE).count() == 4
