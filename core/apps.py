"""The core app: it holds the access log's model and connects its authentication receivers."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import access, tokens

        access.connect_signals()
        tokens.connect_signals()
