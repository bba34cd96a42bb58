"""The reading coordinator's assignment page (/reading/assign/): who may use it, k raters per scan,
balance, reproducibility from the seed, and the way to it from the reviewers' pages."""

from __future__ import annotations

from collections import Counter

import pytest
from django.test import Client

from imaging import reading, services
from imaging.models import ReadAssignment
from tests.imaging.reads import make_rater, make_swi

pytestmark = pytest.mark.django_db

PAGE = "/reading/assign/"
PASSWORD = "pw-Test-123!"


@pytest.fixture
def raters(users):
    return [users["rater"], make_rater("rater_b"), make_rater("rater_c")]


@pytest.fixture
def scans(tmp_path, sites):
    return [make_swi(tmp_path) for _ in range(6)]


def signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def queues(raters) -> dict[str, list[int]]:
    return {
        r.username: list(
            ReadAssignment.objects.filter(rater=r)
            .order_by("position")
            .values_list("scan", flat=True)
        )
        for r in raters
    }


@pytest.mark.parametrize("who", ["rater", "coordinator", "investigator", "assessor"])
def test_only_data_managers_and_admins_assign(users, raters, scans, who):
    client = signed_in(who)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"k": "2", "seed": "1"}).status_code == 403
    assert not ReadAssignment.objects.exists()


def test_an_anonymous_visitor_is_sent_to_log_in(raters, scans):
    answer = Client().get(PAGE)
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


@pytest.mark.parametrize("who", ["data_manager", "admin"])
def test_the_page_offers_the_defaults_and_the_queues(users, raters, scans, who):
    page = signed_in(who).get(PAGE)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="k" value="2"' in text
    assert "6 SWI scans that did not fail QC have fewer than 2 raters" in text
    for scan in scans:
        assert scan.code in text
    for rater in raters:
        assert f'<th scope="row">{rater.username}</th>' in text


def test_k_raters_per_scan_balanced_and_shown(users, raters, scans):
    answer = signed_in("data_manager").post(PAGE, {"k": "2", "seed": "5"})
    assert answer.status_code == 200
    per_scan = Counter(ReadAssignment.objects.values_list("scan", flat=True))
    assert per_scan == {s.pk: 2 for s in scans}
    per_rater = Counter(ReadAssignment.objects.values_list("rater__username", flat=True))
    assert per_rater == {"rater": 4, "rater_b": 4, "rater_c": 4}
    sizes = {s.rater: s for s in answer.context["result"]["sizes"]}
    assert {name: (s.assigned, s.added, s.pending) for name, s in sizes.items()} == {
        name: (4, 4, 4) for name in ("rater", "rater_b", "rater_c")
    }
    text = answer.content.decode()
    assert "12 assignments added over 6 scans" in text and 'id="seed-used">5<' in text
    # Asked again, nothing changes: every scan already has its two raters.
    again = signed_in("data_manager").post(PAGE, {"k": "2", "seed": "5"})
    assert again.context["result"]["created"] == 0
    assert ReadAssignment.objects.count() == 12


def test_the_seed_reproduces_the_queues_and_is_shown_when_drawn(users, raters, scans):
    client = signed_in("admin")
    client.post(PAGE, {"k": "2", "seed": "17"})
    first = queues(raters)
    ReadAssignment.objects.all().delete()
    client.post(PAGE, {"k": "2", "seed": "17"})
    assert queues(raters) == first
    # The page uses the command's service: same seed, same queues.
    ReadAssignment.objects.all().delete()
    reading.read_assignments_auto(user=None, k=2, seed=17)
    assert queues(raters) == first
    # Without a seed one is drawn and shown, and it reproduces the queues too.
    ReadAssignment.objects.all().delete()
    drawn = client.post(PAGE, {"k": "2"}).context["result"]["seed"]
    assert isinstance(drawn, int)
    shown = queues(raters)
    ReadAssignment.objects.all().delete()
    client.post(PAGE, {"k": "2", "seed": str(drawn)})
    assert queues(raters) == shown


def test_chosen_raters_and_scans_only(users, raters, scans):
    chosen = [raters[0], raters[2]]
    answer = signed_in("data_manager").post(
        PAGE,
        {
            "k": "1",
            "seed": "3",
            "raters": [r.pk for r in chosen],
            "scans": [s.pk for s in scans[:4]],
        },
    )
    assert answer.status_code == 200
    assert set(ReadAssignment.objects.values_list("scan", flat=True)) == {s.pk for s in scans[:4]}
    per_rater = Counter(ReadAssignment.objects.values_list("rater__username", flat=True))
    assert per_rater == {"rater": 2, "rater_c": 2}
    assert [s.rater for s in answer.context["result"]["sizes"]] == ["rater", "rater_c"]


def test_failed_scans_are_not_assigned_and_errors_are_shown(users, raters, scans):
    services.scan_qc_set(scans[0], user=users["data_manager"], status="fail", reason="motion")
    client = signed_in("data_manager")
    assert "5 SWI scans that did not fail QC" in client.get(PAGE).content.decode()
    client.post(PAGE, {"k": "1", "seed": "1"})
    assert not ReadAssignment.objects.filter(scan=scans[0]).exists()
    assert ReadAssignment.objects.count() == 5
    too_many = client.post(PAGE, {"k": "4", "seed": "1"})
    assert too_many.status_code == 400
    assert "only 3 active rater(s) exist" in too_many.content.decode()
    bad = client.post(PAGE, {"k": "0"})
    assert bad.status_code == 400 and ReadAssignment.objects.count() == 5


def test_reviewers_reach_reads_from_the_navigation(users, raters):
    for who in ("investigator", "data_manager", "admin"):
        home = signed_in(who).get("/").content.decode()
        assert 'href="/reading/agreement/"' in home and ">Reads</a>" in home
    for who in ("coordinator", "rater"):
        assert ">Reads</a>" not in signed_in(who).get("/").content.decode()
    for page in ("/reading/agreement/", "/reading/adjudication/"):
        assert f'href="{PAGE}"' in signed_in("data_manager").get(page).content.decode()
        assert f'href="{PAGE}"' not in signed_in("investigator").get(page).content.decode()
