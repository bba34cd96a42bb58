"""Run the automatic data checks and open one query per new finding (``queries.checks``)."""

from __future__ import annotations

from typing import Any

from core.commands import StudyCommand
from queries import services
from queries.records import field_label


class Command(StudyCommand):
    help = (
        "Run the automatic checks of the clinical data (visits out of window, completed visits "
        "without their Penn UMN exam or ALSFRS-R, ALSFRS-R totals rising by more than 6 points) "
        "and open one data query per finding not asked before; prints each query opened."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print what the checks find without opening any query.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            findings = services.check_findings(user=None)
            for f in findings:
                where = f"{f.record_type} {f.record_id}, {field_label(f.record_type, f.field)}"
                self.stdout.write(f"would open [{f.check}] {where}: {f.message}")
            self.stdout.write(f"{len(findings)} finding(s); no query opened (dry run).")
            return
        opened = services.run_checks(None)
        for query in opened:
            where = f"{query.record_type} {query.record_id}, {field_label(query.record_type, query.field)}"
            self.stdout.write(
                f"opened query {query.pk} [{query.check_name}] {query.site.code} {where}: "
                f"{query.message}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"{len(opened)} quer{'y' if len(opened) == 1 else 'ies'} opened.")
        )
