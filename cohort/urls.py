from django.urls import path

from cohort import views

urlpatterns = [
    path("", views.home, name="home"),
]
