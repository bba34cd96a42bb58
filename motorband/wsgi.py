"""WSGI entry point for gunicorn."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motorband.settings")
application = get_wsgi_application()
# Import every view (and with them statsmodels, lifelines, plotly: about 3 s) when the worker
# starts, not in the first request it serves.
_ = get_resolver().url_patterns
