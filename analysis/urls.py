"""Analysis pages, included at /analysis/."""

from django.urls import path

from analysis import views

app_name = "analysis"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("plotly.min.js", views.plotly_js, name="plotly-js"),
    path("progression/", views.progression, name="progression"),
    path("survival/", views.survival, name="survival"),
    path("diagnostic/", views.diagnostic, name="diagnostic"),
    path("band-umn/", views.band_umn, name="band-umn"),
    path("stard/", views.stard_page, name="stard"),
    path("sample-size/", views.sample_size_page, name="sample-size"),
    path("harmonization/", views.harmonization, name="harmonization"),
    path("subjects/<str:study_id>/", views.subject_timeline, name="subject"),
    path("exports/", views.exports, name="exports"),
]
