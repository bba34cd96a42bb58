"""Celery application: `celery -A motorband worker` processes quantification runs."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motorband.settings")

app = Celery("motorband")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
