"""Imaging API routes, included under /api/v1/ by motorband.api.urls."""

from rest_framework.routers import SimpleRouter

from imaging.api import views

app_name = "imaging-api"

router = SimpleRouter()
router.register("scans", views.ScanViewSet, basename="scan")
router.register("quantifications", views.QuantificationViewSet, basename="quantification")
router.register("reads", views.ReadViewSet, basename="read")
router.register("reading-queue", views.ReadingQueueViewSet, basename="reading-queue")

urlpatterns = router.urls
