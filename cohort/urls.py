from django.urls import path

from cohort import views

VISIT = "subjects/<str:study_id>/visits/<str:visit_code>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("subjects/", views.subject_list, name="subject-list"),
    path("subjects/new/", views.subject_create, name="subject-create"),
    path("subjects/<str:study_id>/", views.subject_detail, name="subject-detail"),
    path("subjects/<str:study_id>/events/new/", views.event_create, name="event-create"),
    path("subjects/<str:study_id>/visits/new/", views.visit_create, name="visit-create"),
    path(f"{VISIT}edit/", views.visit_edit, name="visit-edit"),
    path(f"{VISIT}umn/", views.umn_exam, name="umn-exam"),
    path(f"{VISIT}alsfrs/", views.alsfrs, name="alsfrs"),
    path("completeness/", views.completeness, name="completeness"),
    path("diagnoses/", views.diagnosis_worklist, name="diagnosis-worklist"),
    path("subjects/<str:study_id>/diagnoses/", views.subject_diagnoses, name="subject-diagnoses"),
]
