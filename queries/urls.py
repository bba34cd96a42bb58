"""Query pages, under /queries/ (no namespace: ``query-list``, ``query-detail``, ...)."""

from django.urls import path

from queries import views

urlpatterns = [
    path("", views.query_list, name="query-list"),
    path("export.csv", views.query_export, name="query-export"),
    path("new/", views.query_create, name="query-create"),
    path("checks/", views.run_checks, name="query-run-checks"),
    path("<int:query_id>/", views.query_detail, name="query-detail"),
    path("<int:query_id>/answer/", views.query_answer, name="query-answer"),
    path("<int:query_id>/close/", views.query_close, name="query-close"),
    path("<int:query_id>/reopen/", views.query_reopen, name="query-reopen"),
]
