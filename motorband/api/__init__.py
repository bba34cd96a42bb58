"""The REST API under /api/: every app's routes, token login, schema and docs."""
