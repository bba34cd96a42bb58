"""Query API routes, included under /api/v1/ by motorband.api.urls."""

from rest_framework.routers import SimpleRouter

from queries.api import views

app_name = "queries-api"

router = SimpleRouter()
router.register("queries", views.DataQueryViewSet, basename="query")

urlpatterns = router.urls
