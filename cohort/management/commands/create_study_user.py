"""Create or update a study user with one role and its site memberships."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cohort import roles, services


class Command(BaseCommand):
    help = "Create or update a user with one study role and site memberships."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", required=True, choices=roles.ROLES)
        parser.add_argument(
            "--site",
            action="append",
            default=[],
            metavar="CODE",
            help="Site code; repeat for several (coordinators need one).",
        )
        parser.add_argument("--password", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = services.study_user_save(
                username=options["name"],
                role=options["role"],
                sites=options["site"],
                password=options["password"],
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from exc
        sites = (
            ", ".join(options["site"]) or "all sites"
            if options["role"] != roles.RATER
            else "blinded reads"
        )
        self.stdout.write(self.style.SUCCESS(f"{user.username}: {options['role']} ({sites})"))
