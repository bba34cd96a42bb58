"""An import stopped by SIGTERM in its image phase keeps nothing: no row, no orphan file."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from analysis.exports import bundle
from cohort.models import Subject, Visit
from core.commands import CommandInterrupted
from imaging.models import Scan
from tests.analysis.exports.test_bundle import _wipe_study

pytestmark = pytest.mark.django_db(transaction=True)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_sigterm_during_the_image_phase_leaves_no_row_and_no_file(
    study: dict[str, Any], tmp_path: Path, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    _wipe_study()
    Subject.objects.all().delete()
    for stale in _files(media_root):
        stale.unlink()
    stored_before_signal: list[str] = []
    store = bundle.BundleImporter.store_image

    def store_then_stop(self: Any, *args: Any, **kwargs: Any) -> Any:
        scan = store(self, *args, **kwargs)
        stored_before_signal.append(str(scan.file.name))
        os.kill(os.getpid(), signal.SIGTERM)  # the service manager stops the machine
        return scan

    monkeypatch.setattr(bundle.BundleImporter, "store_image", store_then_stop)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(CommandInterrupted) as stopped:
        call_command("import_study", str(root), "--no-progress")
    assert stopped.value.code == 143
    assert stored_before_signal, "the signal arrived after an image was stored"
    assert (Subject.objects.count(), Visit.objects.count(), Scan.objects.count()) == (0, 0, 0)
    assert _files(media_root) == []
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is put back
