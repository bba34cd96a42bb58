"""The home page: behind login, the study at a glance per role."""

import pytest
from django.core.management import call_command

from cohort.demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_home_shows_counts_due_and_overdue(client):
    call_command("load_demo", "--seed", "3", "--clinical-only")
    assert client.login(username="investigator", password=DEMO_PASSWORD)
    page = client.get("/").content.decode()
    assert "Subjects per site and group" in page
    for code in ("EDM", "TOR", "MTL"):
        assert code in page
    assert "Overdue visits" in page and "Visits due" in page
    overview = client.get("/").context["overview"]
    assert overview["grand_total"] == 84
    assert overview["overdue"] or overview["due"]


def test_coordinator_sees_own_site_only(client):
    call_command("load_demo", "--seed", "3", "--clinical-only")
    assert client.login(username="coord_tor", password=DEMO_PASSWORD)
    overview = client.get("/").context["overview"]
    assert [row["site"].code for row in overview["table"]] == ["TOR"]
    assert overview["grand_total"] == 28


def test_rater_sees_no_clinical_data(client):
    call_command("load_demo", "--seed", "3", "--clinical-only")
    assert client.login(username="rater1", password=DEMO_PASSWORD)
    response = client.get("/")
    assert "overview" not in response.context
    assert "EDM-0001" not in response.content.decode()


def test_create_study_user_command(sites, capsys):
    call_command(
        "create_study_user",
        "alice",
        "--role",
        "coordinator",
        "--site",
        "EDM",
        "--password",
        "pw-Test-123!",
    )
    assert "alice: coordinator" in capsys.readouterr().out
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="alice")
    assert user.check_password("pw-Test-123!")
    assert list(user.site_memberships.values_list("site__code", flat=True)) == ["EDM"]
