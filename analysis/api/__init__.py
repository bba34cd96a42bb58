"""The analysis REST API: progression, survival, diagnostic accuracy and the plots' figures."""
