"""Reviewers' pages of the blinded reads, under /reading/ beside the raters' pages."""

from django.urls import path

from analysis import views

app_name = "review"

urlpatterns = [
    path("agreement/", views.agreement_page, name="agreement"),
    path("adjudication/", views.adjudication_page, name="adjudication"),
    path("adjudication/<str:code>/", views.adjudicate, name="adjudicate"),
]
