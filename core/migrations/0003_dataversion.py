# The data version: one row that changes whenever the study's data do (core.dataversion).

import secrets

from django.db import migrations, models


def first_version(apps, schema_editor):
    apps.get_model("core", "DataVersion").objects.create(
        id=1, token=secrets.token_hex(16), counter=0
    )
    if schema_editor.connection.vendor == "postgresql":
        # PostgreSQL counts changes on a sequence: nextval() takes no row lock, so writers never
        # queue (or deadlock) on the version row (core.dataversion).
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS core_dataversion_seq")


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS core_dataversion_seq")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_accessevent_import"),
    ]

    operations = [
        migrations.CreateModel(
            name="DataVersion",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(
                        default=1, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("token", models.CharField(editable=False, max_length=32)),
                ("counter", models.BigIntegerField(default=0, editable=False)),
            ],
            options={"verbose_name": "data version"},
        ),
        migrations.RunPython(first_version, drop_sequence),
    ]
