"""Exports API routes, included under /api/v1/ (contract.md: ``exports/``) by motorband.api.urls."""

from rest_framework.routers import SimpleRouter

from analysis.api.exports import ReleaseViewSet

app_name = "exports-api"

router = SimpleRouter()
router.register("exports", ReleaseViewSet, basename="release")

urlpatterns = router.urls
