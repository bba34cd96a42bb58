"""Reading pages under /reading/: the rater's queue, reading page and image."""

from django.urls import path

from imaging import views

app_name = "imaging"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("<str:code>/", views.read_page, name="read"),
    path("<str:code>/image.nii.gz", views.image, name="image"),
]
