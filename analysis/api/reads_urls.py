"""Reviewers' routes of the blinded reads, included under /api/v1/ by motorband.api.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from analysis.api import reads

app_name = "reads-review-api"

router = SimpleRouter()
router.register("adjudication", reads.AdjudicationViewSet, basename="adjudication")
router.register("consensus", reads.ConsensusViewSet, basename="consensus")
router.register("adjudications", reads.FinalReadViewSet, basename="adjudications")

urlpatterns = [
    *router.urls,
    path("agreement/", reads.AgreementView.as_view(), name="agreement"),
]
