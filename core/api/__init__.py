"""Bases of every app's REST API: viewset, permissions, OpenAPI schema."""
