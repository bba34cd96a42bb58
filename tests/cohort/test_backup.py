"""Backup and restore: an empty instance restored from a backup holds the same rows and files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cohort import services as cohort_services
from cohort.backup import row_counts
from cohort.models import Subject
from imaging import services
from tests.factories import alsfrs_items, make_subject, make_visit
from tests.imaging.test_services import upload

pytestmark = pytest.mark.django_db


def snapshot(media_root: Path) -> tuple:
    subjects = list(Subject.objects.order_by("study_id").values())
    files = {
        str(p.relative_to(media_root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(media_root.rglob("*"))
        if p.is_file()
    }
    return row_counts(), subjects, files


def _wipe(media_root: Path) -> None:
    from django.apps import apps

    for label in ("imaging", "cohort", "analysis"):
        for model in reversed(list(apps.get_app_config(label).get_models())):
            model._default_manager.all()._raw_delete(model._default_manager.db)
    for path in media_root.rglob("*"):
        if path.is_file():
            path.unlink()


def test_backup_then_restore_into_an_empty_instance(tmp_path, media_root, phantom_files):
    visit = make_visit(make_subject(), "V1")
    cohort_services.alsfrs_save(user=None, visit=visit, items=alsfrs_items(q1=2))
    swi = upload(visit, "swi", phantom_files["swi"])
    upload(visit, "labels", phantom_files["labels"])
    run, _ = services.run_request(user=None, scan=swi, enqueue=False)
    services.run_execute(run.pk)
    before = snapshot(media_root)
    archive = tmp_path / "backup.tar.gz"
    call_command("backup_study", str(archive))
    with pytest.raises(CommandError, match="already holds"):
        call_command("restore_study", str(archive))
    _wipe(media_root)
    assert sum(row_counts().values()) == 0
    call_command("restore_study", str(archive))
    after = snapshot(media_root)
    assert after[0] == before[0]
    for old, new in zip(before[1], after[1], strict=True):
        assert {k: v for k, v in new.items() if old[k] != v} == {}
    assert after[2] == before[2]


@pytest.fixture
def phantom_files(tmp_path: Path) -> dict[str, Path]:
    return _phantoms(tmp_path)


def _phantoms(tmp_path: Path) -> dict[str, Path]:
    import nibabel as nib

    from imaging import band

    phantom = band.make_phantom((64, 64, 64), (1.5, 1.5, 1.5), band_contrast=0.1, seed=5)
    paths = {"swi": tmp_path / "b_swi.nii.gz", "labels": tmp_path / "b_dseg.nii.gz"}
    nib.save(phantom.swi, paths["swi"])
    nib.save(phantom.labels, paths["labels"])
    return paths


def test_damaged_backup_is_refused(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tar")
    with pytest.raises(Exception):  # noqa: B017 - tarfile's own error names the damage
        call_command("restore_study", str(bad))
