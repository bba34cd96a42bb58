"""Reading pages under /reading/: the rater's queue and reading page, the reviewers' pages."""

from django.urls import path

from imaging import views

app_name = "imaging"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("agreement/", views.agreement_page, name="agreement"),
    path("adjudication/", views.adjudication_page, name="adjudication"),
    path("<str:code>/", views.read_page, name="read"),
    path("<str:code>/image.nii.gz", views.image, name="image"),
]
