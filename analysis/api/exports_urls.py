"""Exports API routes, included under /api/v1/ (contract.md: ``exports/``) by motorband.api.urls."""

from rest_framework.routers import SimpleRouter

from analysis.api.exports import ExportJobViewSet, ReleaseViewSet

app_name = "exports-api"

router = SimpleRouter()
# Before "exports": its detail route would take "jobs" for a release's id.
router.register("exports/jobs", ExportJobViewSet, basename="export-job")
router.register("exports", ReleaseViewSet, basename="release")

urlpatterns = router.urls
