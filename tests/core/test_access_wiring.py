"""Where the access log is written: every page, API answer and command that shows identifiable
data, lets a file or a release out, or brings data in records who, what and from where."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import nibabel as nib
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from analysis.exports import bundle
from analysis.models import Release
from cohort import services
from cohort.models import AlsfrsR, ClinicalEvent, Subject, UmnExam, Visit
from core.commands import COMMAND_LINE
from core.models import AccessAction, AccessEvent
from imaging import band, reading
from imaging import services as imaging_services
from imaging.models import Read, Scan
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

pytestmark = pytest.mark.django_db

API = "/api/v1/"
ADDRESS = "192.0.2.10"
CLIENT = {"REMOTE_ADDR": ADDRESS}


def only(action: str) -> AccessEvent:
    """The one event of ``action`` (logins of the test clients aside)."""
    (event,) = AccessEvent.objects.filter(action=action)
    return event


def check(
    event: AccessEvent, *, action: str, user: Any, target: str, address: str | None = ADDRESS
) -> None:
    username = user.get_username() if user is not None else COMMAND_LINE
    assert (event.action, event.username, event.user, event.target, event.client_address) == (
        action,
        username,
        user,
        target,
        address,
    )


def page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def subject(sites: dict[str, Any]) -> Subject:
    """EDM-0001 with two completed visits, their forms and a clinical event."""
    subject = make_subject(study_id="EDM-0001", site=sites["EDM"])
    for code in ("V1", "V2"):
        visit = make_visit(subject, code)
        services.umn_exam_save(user=None, visit=visit, items=umn_items(3))
        services.alsfrs_save(user=None, visit=visit, items=alsfrs_items(q1=3))
    services.event_create(
        user=None, subject=subject, kind="gastrostomy", date=ENROLLED + dt.timedelta(days=200)
    )
    return subject


@pytest.fixture
def swi(subject: Subject, tmp_path: Path) -> Scan:
    phantom = band.make_phantom((32, 32, 32), (2.0, 2.0, 2.0), band_contrast=0.1, seed=4)
    path = tmp_path / "swi.nii.gz"
    nib.save(phantom.swi, path)
    with path.open("rb") as handle:
        return imaging_services.scan_upload(
            user=None,
            visit=subject.visits.get(visit_code="V1"),
            kind="swi",
            upload=handle,
            name=path.name,
            field_strength=3.0,
        )


# --- identifiable data viewed ----------------------------------------------------------------


def test_the_subject_page(users: dict[str, Any], subject: Subject) -> None:
    client = page_client(users["coordinator"])
    assert client.get("/subjects/", **CLIENT).status_code == 200  # a list: not recorded
    assert not AccessEvent.objects.filter(action=AccessAction.VIEW_IDENTIFIABLE).exists()
    assert client.get("/subjects/EDM-0001/", **CLIENT).status_code == 200
    event = only(AccessAction.VIEW_IDENTIFIABLE)
    check(
        event,
        action="view_identifiable",
        user=users["coordinator"],
        target="subject:EDM-0001",
    )
    assert event.detail == {"page": "subject"}


def test_the_subject_in_the_api(api: Any, users: dict[str, Any], subject: Subject) -> None:
    client = api("investigator")
    assert client.get(f"{API}subjects/", **CLIENT).status_code == 200  # a list: not recorded
    assert not AccessEvent.objects.filter(action=AccessAction.VIEW_IDENTIFIABLE).exists()
    assert client.get(f"{API}subjects/{subject.pk}/", **CLIENT).status_code == 200
    event = only(AccessAction.VIEW_IDENTIFIABLE)
    check(
        event,
        action="view_identifiable",
        user=users["investigator"],
        target="subject:EDM-0001",
    )
    assert event.detail == {"via": "api"}
    # Another site's subject is not found, and nothing is recorded.
    assert api("coord_tor").get(f"{API}subjects/{subject.pk}/", **CLIENT).status_code == 404
    assert AccessEvent.objects.filter(action=AccessAction.VIEW_IDENTIFIABLE).count() == 1


def test_the_visit_page(users: dict[str, Any], subject: Subject) -> None:
    response = page_client(users["data_manager"]).get("/subjects/EDM-0001/visits/V2/", **CLIENT)
    assert response.status_code == 200
    event = only(AccessAction.VIEW_IDENTIFIABLE)
    check(
        event,
        action="view_identifiable",
        user=users["data_manager"],
        target="visit:EDM-0001/V2",
    )
    assert event.detail == {"page": "visit"}


def test_the_subject_diagnoses_page(users: dict[str, Any], subject: Subject) -> None:
    response = page_client(users["assessor"]).get("/subjects/EDM-0001/diagnoses/", **CLIENT)
    assert response.status_code == 200
    event = only(AccessAction.VIEW_IDENTIFIABLE)
    check(event, action="view_identifiable", user=users["assessor"], target="subject:EDM-0001")
    assert event.detail == {"page": "diagnoses"}


# --- files downloaded -------------------------------------------------------------------------


def test_a_scan_file_from_the_api(api: Any, users: dict[str, Any], swi: Scan) -> None:
    response = api("data_manager").get(f"{API}scans/{swi.pk}/download/", **CLIENT)
    assert response.status_code == 200 and b"".join(response.streaming_content)
    event = only(AccessAction.DOWNLOAD)
    check(event, action="download", user=users["data_manager"], target=f"scan:{swi.code}")
    assert event.detail == {"kind": "swi", "via": "api"}


def test_a_raters_deidentified_image(users: dict[str, Any], swi: Scan) -> None:
    reading.read_assignments_create(user=None, rater=users["rater"], scans=[swi], seed=1)
    client = page_client(users["rater"])
    response = client.get(f"/reading/{swi.code}/image.nii.gz", {"minip": 8}, **CLIENT)
    assert response.status_code == 200 and b"".join(response.streaming_content)
    event = only(AccessAction.DOWNLOAD)
    check(event, action="download", user=users["rater"], target=f"scan:{swi.code}")
    assert event.detail == {"deidentified": True, "minip_mm": 8}


# --- exports ------------------------------------------------------------------------------------


def test_a_release_made_on_the_page_then_downloaded(users: dict[str, Any], subject: Any) -> None:
    client = page_client(users["data_manager"])
    answer = client.post(
        "/analysis/exports/",
        {"format": "csv", "date_mode": "baseline", "site_mode": "keep"},
        **CLIENT,
    )
    assert answer.status_code == 302
    release = Release.objects.get()
    event = only(AccessAction.EXPORT)
    check(event, action="export", user=users["data_manager"], target=f"release:{release.pk}")
    assert event.detail["format"] == "csv" and event.detail["deidentify"] is False
    assert event.detail["sha256"] == release.sha256

    download = client.get(f"{API}exports/{release.pk}/download/", **CLIENT)
    assert download.status_code == 200 and b"".join(download.streaming_content)
    event = only(AccessAction.DOWNLOAD)
    check(event, action="download", user=users["data_manager"], target=f"release:{release.pk}")
    assert event.detail["sha256"] == release.sha256


def test_a_release_made_in_the_api(api: Any, users: dict[str, Any], subject: Any) -> None:
    answer = api("admin").post(
        f"{API}exports/", {"format": "xlsx", "deidentify": True}, format="json", **CLIENT
    )
    assert answer.status_code == 201, answer.content
    event = only(AccessAction.EXPORT)
    check(event, action="export", user=users["admin"], target=f"release:{answer.json()['id']}")
    assert event.detail["format"] == "xlsx" and event.detail["deidentify"] is True
    # A refused release leaves no event.
    refused = api("admin").post(f"{API}exports/", {"format": "csv", "sites": ["NOPE"]}, **CLIENT)
    assert refused.status_code == 400
    assert AccessEvent.objects.filter(action=AccessAction.EXPORT).count() == 1


def test_an_analysis_pages_csv(users: dict[str, Any], subject: Subject) -> None:
    client = page_client(users["investigator"])
    assert client.get("/analysis/subjects/EDM-0001/", **CLIENT).status_code == 200  # the page
    assert not AccessEvent.objects.filter(action=AccessAction.EXPORT).exists()
    response = client.get("/analysis/subjects/EDM-0001/", {"format": "csv"}, **CLIENT)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    event = only(AccessAction.EXPORT)
    check(event, action="export", user=users["investigator"], target="analysis:subject-EDM-0001")
    assert event.detail == {"format": "csv", "rows": 2, "query": {"format": ["csv"]}}


def test_export_study_is_the_systems_unless_a_user_is_named(
    users: dict[str, Any], subject: Subject, tmp_path: Path
) -> None:
    out = tmp_path / "system"
    call_command("export_study", str(out), "--format", "csv", "--no-progress", stdout=io.StringIO())
    event = only(AccessAction.EXPORT)
    check(event, action="export", user=None, target=f"directory:{out.resolve()}", address=None)
    assert event.detail["via"] == "export_study" and event.detail["format"] == "csv"
    assert event.detail["files"] == 4 and event.detail["completed"] is True

    named = tmp_path / "named"
    call_command(
        "export_study",
        str(named),
        "--format",
        "redcap",
        "--deidentify",
        "--user",
        "data_manager",
        stdout=io.StringIO(),
    )
    event = AccessEvent.objects.filter(action=AccessAction.EXPORT).order_by("-id").first()
    assert event is not None
    check(
        event,
        action="export",
        user=users["data_manager"],
        target=f"directory:{named.resolve()}",
        address=None,
    )
    assert event.detail["deidentify"] is True

    with pytest.raises(CommandError, match="may not export"):
        call_command("export_study", str(tmp_path / "no"), "--user", "investigator")
    assert not (tmp_path / "no").exists()
    assert AccessEvent.objects.filter(action=AccessAction.EXPORT).count() == 2


# --- imports ------------------------------------------------------------------------------------


def _wipe_subjects() -> None:
    Read.objects.all().delete()
    Scan.objects.all().delete()
    UmnExam.objects.all().delete()
    AlsfrsR.objects.all().delete()
    ClinicalEvent.objects.all().delete()
    Visit.objects.all().delete()
    Subject.objects.all().delete()


def _last_history_user(study_id: str) -> Any:
    return Subject.history.filter(study_id=study_id).order_by("-history_id").first().history_user


def test_import_study_is_attributed_to_the_named_user(
    users: dict[str, Any], subject: Subject, tmp_path: Path
) -> None:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    _wipe_subjects()
    call_command(
        "import_study", str(root), "--user", "data_manager", "--no-progress", stdout=io.StringIO()
    )
    assert _last_history_user("EDM-0001") == users["data_manager"]
    visit = Visit.objects.get(subject__study_id="EDM-0001", visit_code="V2")
    assert visit.history.order_by("-history_id").first().history_user == users["data_manager"]
    event = only(AccessAction.IMPORT)
    check(
        event,
        action="import",
        user=users["data_manager"],
        target=f"directory:{root.resolve()}",
        address=None,
    )
    assert event.detail["outcome"] == "imported" and event.detail["counts"]["subjects"] == 1
    assert event.detail["via"] == "import_study"


def test_import_study_without_a_user_is_the_systems(
    users: dict[str, Any], subject: Subject, tmp_path: Path
) -> None:
    root = tmp_path / "bundle"
    bundle.export_bundle(root)
    _wipe_subjects()
    call_command("import_study", str(root), "--dry-run", "--no-progress", stdout=io.StringIO())
    event = only(AccessAction.IMPORT)
    check(event, action="import", user=None, target=f"directory:{root.resolve()}", address=None)
    assert event.detail["outcome"] == "dry run"
    assert not Subject.objects.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nobody", "No account is named 'nobody'"),
        ("retired", "'retired' is inactive"),
        ("coordinator", "'coordinator' \\(site coordinator\\) may not import clinical data"),
        ("investigator", "may not import clinical data"),
        ("rater", "may not import clinical data"),
    ],
)
@pytest.mark.parametrize("command", ["import_study", "import_redcap"])
def test_imports_refuse_an_unknown_inactive_or_unfit_user(
    users: dict[str, Any], tmp_path: Path, command: str, name: str, message: str
) -> None:
    services.study_user_save(username="retired", role="data_manager", is_active=False)
    args = [str(tmp_path / "missing")]
    if command == "import_redcap":
        args += ["--dictionary", str(tmp_path / "dictionary.csv")]
    with pytest.raises(CommandError, match=message):
        call_command(command, *args, "--user", name, "--no-progress")
    assert not AccessEvent.objects.filter(action=AccessAction.IMPORT).exists()


def test_import_redcap_is_attributed_to_the_named_user(
    users: dict[str, Any], subject: Subject, tmp_path: Path
) -> None:
    folder = tmp_path / "redcap"
    call_command("export_study", str(folder), "--format", "redcap", stdout=io.StringIO())
    _wipe_subjects()
    call_command(
        "import_redcap",
        str(folder / "data.csv"),
        "--dictionary",
        str(folder / "dictionary.csv"),
        "--user",
        "admin",
        "--no-progress",
        stdout=io.StringIO(),
    )
    assert _last_history_user("EDM-0001") == users["admin"]
    event = only(AccessAction.IMPORT)
    check(
        event,
        action="import",
        user=users["admin"],
        target=f"file:{(folder / 'data.csv').resolve()}",
        address=None,
    )
    assert event.detail["dictionary"] == str((folder / "dictionary.csv").resolve())
    assert event.detail["outcome"] == "imported"


def test_restore_study_is_recorded(subject: Subject, tmp_path: Path) -> None:
    from django.apps import apps

    archive = tmp_path / "backup.tar.gz"
    call_command("backup_study", str(archive), stdout=io.StringIO())
    for label in ("imaging", "cohort", "analysis"):
        for model in reversed(list(apps.get_app_config(label).get_models())):
            model._default_manager.all()._raw_delete(model._default_manager.db)
    call_command("restore_study", str(archive), stdout=io.StringIO(), stderr=io.StringIO())
    assert Subject.objects.filter(study_id="EDM-0001").exists()
    event = only(AccessAction.IMPORT)
    check(event, action="import", user=None, target=f"file:{archive.resolve()}", address=None)
    assert event.detail["via"] == "restore_study" and event.detail["outcome"] == "restored"


def test_an_imported_read_is_attributed_to_raters_only(users: dict[str, Any], swi: Scan) -> None:
    grades = {"left_grade": 1, "right_grade": 0, "confidence": 2}
    both = services.study_user_save(username="rater_and_more", role="rater")
    both.groups.add(Group.objects.get(name="data_manager"))
    for account in (users["investigator"], users["admin"], both):
        with pytest.raises(ValidationError, match="can only be attributed to an account whose"):
            reading.read_import(user=users["data_manager"], scan=swi, rater=account, **grades)
    assert not Read.objects.exists()
    former = services.study_user_save(username="former_rater", role="rater", is_active=False)
    read = reading.read_import(user=users["data_manager"], scan=swi, rater=former, **grades)
    assert read.rater == former
    assert read.history.get().history_user == users["data_manager"]


# --- deleting a subject ---------------------------------------------------------------------


def test_deleting_a_subject_needs_a_reason_and_a_writer_of_its_site(
    api: Any, users: dict[str, Any], subject: Subject
) -> None:
    with pytest.raises(ValidationError, match="Give a reason for deleting subject EDM-0001"):
        services.subject_delete(subject, user=users["coordinator"], reason="  ")
    with pytest.raises(PermissionDenied):
        services.subject_delete(subject, user=users["coord_tor"], reason="wrong site")
    with pytest.raises(PermissionDenied):
        services.subject_delete(subject, user=users["investigator"], reason="no write role")
    detail = f"{API}subjects/{subject.pk}/"
    assert api("investigator").delete(detail, HTTP_X_CHANGE_REASON="x").status_code == 403
    refused = api("coordinator").delete(detail)
    assert refused.status_code == 400 and list(refused.json()) == ["reason"]
    assert Subject.objects.filter(pk=subject.pk).exists()
    deleted = api("coordinator").delete(detail, HTTP_X_CHANGE_REASON="consent withdrawn")
    assert deleted.status_code == 204
    assert not Subject.objects.filter(pk=subject.pk).exists()
    gone = Subject.history.filter(id=subject.pk, history_type="-").get()
    assert (gone.history_user, gone.history_change_reason) == (
        users["coordinator"],
        "consent withdrawn",
    )
    removed = Visit.history.filter(subject_id=subject.pk, history_type="-")
    assert {v.history_change_reason for v in removed} == {"consent withdrawn"}
