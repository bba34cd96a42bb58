"""The visit page and its scan actions (no namespace: ``visit-detail``, ``scan-upload``, ...)."""

from django.urls import path

from cohort.urls import VISIT
from imaging import views

urlpatterns = [
    path(VISIT, views.visit_detail, name="visit-detail"),
    path(f"{VISIT}scans/", views.scan_upload, name="scan-upload"),
    path(f"{VISIT}scans/<str:scan_code>/quantify/", views.scan_quantify, name="scan-quantify"),
    path(f"{VISIT}scans/<str:scan_code>/qc/", views.scan_qc, name="scan-qc"),
    path(f"{VISIT}scans/<str:scan_code>/delete/", views.scan_delete, name="scan-delete"),
    path(f"{VISIT}scans/<str:scan_code>/replace/", views.scan_replace, name="scan-replace"),
    path(f"{VISIT}scans/<str:scan_code>/scanner/", views.scan_scanner, name="scan-scanner"),
    # The audit trail (after cohort's subjects/<id>/ pages, which leave these paths alone).
    path("subjects/<str:study_id>/history/", views.subject_history, name="subject-history"),
    path(
        "subjects/<str:study_id>/history/<str:kind>/<int:record_id>/",
        views.subject_history,
        name="record-history",
    ),
    path(f"{VISIT}scans/<str:scan_code>/runs/<int:run_id>/qc/", views.run_qc, name="run-qc"),
]
