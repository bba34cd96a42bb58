"""The core app: it holds the access log's model and connects its authentication receivers and the
data version's tracking of writes."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import access, dataversion, tokens

        access.connect_signals()
        tokens.connect_signals()
        dataversion.connect_signals()
