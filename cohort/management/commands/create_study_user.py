"""Create or update a study user with one role and its site memberships."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from cohort import services
from core import roles
from core.commands import StudyCommand


class Command(StudyCommand):
    help = "Create or update a user with one study role and site memberships."
    exclusive = False  # one user at a time is safe beside anything

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
        self.stdout.write(self.style.SUCCESS(f"{user.get_username()}: {options['role']} ({sites})"))
