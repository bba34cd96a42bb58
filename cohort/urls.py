from django.urls import path

from cohort import views

VISIT = "subjects/<str:study_id>/visits/<str:visit_code>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("subjects/", views.subject_list, name="subject-list"),
    path("subjects/new/", views.subject_create, name="subject-create"),
    path("subjects/<str:study_id>/", views.subject_detail, name="subject-detail"),
    path("subjects/<str:study_id>/edit/", views.subject_edit, name="subject-edit"),
    path("subjects/<str:study_id>/delete/", views.subject_delete, name="subject-delete"),
    path("subjects/<str:study_id>/events/new/", views.event_create, name="event-create"),
    path(
        "subjects/<str:study_id>/events/<int:event_id>/edit/", views.event_edit, name="event-edit"
    ),
    path(
        "subjects/<str:study_id>/events/<int:event_id>/delete/",
        views.event_delete,
        name="event-delete",
    ),
    path("subjects/<str:study_id>/visits/new/", views.visit_create, name="visit-create"),
    path(f"{VISIT}edit/", views.visit_edit, name="visit-edit"),
    path(f"{VISIT}delete/", views.visit_delete, name="visit-delete"),
    path(f"{VISIT}umn/", views.umn_exam, name="umn-exam"),
    path(f"{VISIT}umn/delete/", views.umn_exam_delete, name="umn-exam-delete"),
    path(f"{VISIT}alsfrs/", views.alsfrs, name="alsfrs"),
    path(f"{VISIT}alsfrs/delete/", views.alsfrs_delete, name="alsfrs-delete"),
    path("completeness/", views.completeness, name="completeness"),
    path("diagnoses/", views.diagnosis_worklist, name="diagnosis-worklist"),
    path("subjects/<str:study_id>/diagnoses/", views.subject_diagnoses, name="subject-diagnoses"),
]
