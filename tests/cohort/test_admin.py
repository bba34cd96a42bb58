"""The admin never bypasses the services: clinical records are read-only there; study settings and
sites are saved through their services (audit user, version, derived fields)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from cohort.models import Site, Study, Subject, Visit
from cohort.schedule import MONTH_DAYS
from tests.factories import make_subject, make_visit


@pytest.fixture
def admin_client(client, users):
    client.force_login(users["admin"])
    return client


@pytest.mark.django_db
def test_clinical_records_are_read_only_in_the_admin(admin_client):
    subject = make_subject()
    visit = make_visit(subject)
    page = admin_client.get(reverse("admin:cohort_subject_change", args=[subject.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    posted = admin_client.post(
        reverse("admin:cohort_visit_change", args=[visit.pk]),
        {"visit_code": "V1", "date": "2025-02-01", "status": "completed"},
    )
    assert posted.status_code == 403
    assert Visit.objects.get(pk=visit.pk).date == visit.date
    assert admin_client.get(reverse("admin:cohort_subject_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:cohort_subject_delete", args=[subject.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Subject.objects.filter(pk=subject.pk).exists()
    history = admin_client.get(reverse("admin:cohort_subject_history", args=[subject.pk]))
    assert history.status_code == 200


@pytest.mark.django_db
def test_study_settings_change_through_the_service(admin_client, users):
    subject = make_subject()
    make_visit(subject, "V1", dt.date(2025, 1, 10))
    v2 = make_visit(subject, "V2", dt.date(2025, 5, 12))
    study = Study.current()
    response = admin_client.post(
        reverse("admin:cohort_study_change", args=[study.pk]),
        {
            "name": study.name,
            "interval_months": 6,
            "window_days": 30,
            "planned_visits": 6,
            "reference_standard_months": 12,
        },
    )
    assert response.status_code == 302
    # The service refreshed the derived visit targets for the new schedule.
    expected = dt.date(2025, 1, 10) + dt.timedelta(days=round(6 * MONTH_DAYS))
    assert Visit.objects.get(pk=v2.pk).target_date == expected
    assert Study.history.latest().history_user == users["admin"]


@pytest.mark.django_db
def test_site_changes_bump_the_version_and_record_the_admin(admin_client, users):
    response = admin_client.post(reverse("admin:cohort_site_add"), {"code": "MTL", "name": "Mtl"})
    assert response.status_code == 302
    site = Site.objects.get(code="MTL")
    response = admin_client.post(
        reverse("admin:cohort_site_change", args=[site.pk]), {"code": "MTL", "name": "Montreal"}
    )
    assert response.status_code == 302
    site.refresh_from_db()
    assert (site.name, site.version) == ("Montreal", 2)
    assert [h.history_user for h in site.history.all()] == [users["admin"], users["admin"]]
