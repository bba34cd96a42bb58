"""Reading pages under /reading/: the rater's queue, reading page and image, and the reading
coordinator's assignment page."""

from django.urls import path

from imaging import views

app_name = "imaging"

urlpatterns = [
    path("", views.queue, name="queue"),
    # Before <code>/, which would take it (scan codes are SCN-...).
    path("assign/", views.assign_reads, name="assign"),
    path("<str:code>/", views.read_page, name="read"),
    path("<str:code>/image.nii.gz", views.image, name="image"),
]
