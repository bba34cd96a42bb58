"""Analysis API routes, relative to /api/v1/analysis/ (included by the v1 router)."""

from django.urls import path

from analysis.api import views

app_name = "analysis-api"

urlpatterns = [
    path("progression/", views.ProgressionView.as_view(), name="progression"),
    path("survival/", views.SurvivalView.as_view(), name="survival"),
    path("diagnostic/", views.DiagnosticView.as_view(), name="diagnostic"),
    path("stard/", views.StardView.as_view(), name="stard"),
    path("sample-size/", views.SampleSizeView.as_view(), name="sample-size"),
    path("plots/<str:name>/", views.PlotView.as_view(), name="plot"),
]
