"""The REST API's shared parts: permissions, the base viewset, the schema and the /api/ URLs."""
