"""Core API routes (the access log), included under /api/v1/ by motorband.api.urls."""

from rest_framework.routers import SimpleRouter

from core.api.access import AccessEventViewSet

app_name = "core-api"

router = SimpleRouter()
router.register("access-log", AccessEventViewSet, basename="access-event")

urlpatterns = router.urls
