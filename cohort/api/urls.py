"""Cohort API routes, included under /api/v1/ by motorband.api.urls."""

from rest_framework.routers import SimpleRouter

from cohort.api import views

app_name = "cohort-api"

router = SimpleRouter()
router.register("sites", views.SiteViewSet, basename="site")
router.register("subjects", views.SubjectViewSet, basename="subject")
router.register("visits", views.VisitViewSet, basename="visit")
router.register("umn-exams", views.UmnExamViewSet, basename="umn-exam")
router.register("alsfrs", views.AlsfrsViewSet, basename="alsfrs")
router.register("events", views.ClinicalEventViewSet, basename="event")
router.register("diagnoses", views.DiagnosisViewSet, basename="diagnosis")

urlpatterns = router.urls
