"""``manage.py export_study DIR [--format ...] [--deidentify] [--user NAME]``: the study bundle, a
trial dataset, a REDCap project or SDTM-style domains, recorded in the access log (as the system's,
or ``--user``'s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from analysis.exports import bundle, redcap, sdtm, trial
from analysis.exports import deidentify as deid
from core import roles
from core.commands import StudyCommand, record_command_access, study_user_named
from core.models import AccessAction

FORMATS = ("bids", *trial.FORMATS, "redcap", "sdtm")


class Command(StudyCommand):
    help = (
        "Write the study bundle (--format bids, the default: a BIDS dataset the official validator "
        "accepts, with phenotype TSVs, label maps in derivatives/labels and band measurements in "
        "derivatives/motorband) or a trial dataset (csv, xlsx, parquet, dta, sav: long, "
        "wide and event tables with a data dictionary) or a REDCap project (redcap: dictionary, "
        "events, instrument-event mapping and data files), optionally de-identified, or SDTM-style "
        "domains (sdtm: dm, sv, qs, ds, nv and define.csv, always de-identified)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="Output folder (created; must be empty for bids).")
        parser.add_argument("--format", choices=FORMATS, default="bids")
        parser.add_argument(
            "--deidentify",
            action="store_true",
            help="Pseudonymous codes, no free text, birth date as age (trial and redcap formats; "
            "sdtm always is).",
        )
        parser.add_argument(
            "--dates",
            choices=deid.DATE_MODES,
            default=None,
            help="De-identified dates: days from baseline (the default) or a per-subject shift; "
            "sdtm: shifted dates (the default) or none (baseline: study days only).",
        )
        parser.add_argument(
            "--sites",
            choices=deid.SITE_MODES,
            default=deid.KEEP,
            help="De-identified sites: keep their codes (default) or code them S1, S2, ...",
        )
        parser.add_argument("--site", action="append", default=[], help="Only this site (repeat).")
        parser.add_argument(
            "--group", action="append", default=[], help="Only this group (repeat)."
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
        parser.add_argument(
            "--user",
            metavar="NAME",
            help="The data manager or administrator the export is made for (the access log "
            "names them; without it, the system).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Export, then record it in the access log (also when files were written before a
        failure: they left the study all the same)."""
        user = None
        if options["user"] is not None:
            user = study_user_named(
                options["user"], allowed=roles.EXPORTERS, doing="export the study"
            )
        directory = Path(options["directory"])
        completed = False
        try:
            self.export(**options)
            completed = True
        finally:
            files = [p for p in directory.rglob("*") if p.is_file()] if directory.is_dir() else []
            if files:
                record_command_access(
                    user,
                    AccessAction.EXPORT,
                    f"directory:{directory.resolve()}",
                    command="export_study",
                    format=options["format"],
                    deidentify=bool(options["deidentify"]) or options["format"] == "sdtm",
                    sites=list(options["site"]),
                    groups=list(options["group"]),
                    files=len(files),
                    completed=completed,
                )

    def export(self, **options: Any) -> None:
        fmt = options["format"]
        if fmt == "bids":
            if options["deidentify"] or options["site"] or options["group"]:
                raise CommandError(
                    "The BIDS bundle is the whole, re-importable study: --deidentify, --site and "
                    "--group apply to the trial formats."
                )
            try:
                files = bundle.export_bundle(
                    options["directory"], progress=not options["no_progress"]
                )
            except bundle.BundleError as exc:
                raise CommandError(str(exc)) from exc
            problems = bundle.layout_problems(options["directory"])
            for problem in problems:
                self.stderr.write(f"BIDS layout: {problem}")
            self.stdout.write(f"Wrote {len(files)} files to {options['directory']}.")
            if problems:
                raise CommandError(f"{len(problems)} BIDS layout problem(s).")
            return
        if fmt == "sdtm":
            written, dataset = sdtm.export_sdtm(
                options["directory"],
                sites=options["site"],
                groups=options["group"],
                date_mode=options["dates"] or deid.SHIFT,
                site_mode=options["sites"],
            )
            counts = ", ".join(f"{len(f)} {n.upper()}" for n, f in dataset.domains.items())
            self.stdout.write(
                f"Wrote {', '.join(p.name for p in written)} to {options['directory']} "
                f"({counts} records)."
            )
            return
        dates = options["dates"] or deid.BASELINE
        if fmt == "redcap":
            written, project = redcap.export_redcap(
                options["directory"],
                sites=options["site"],
                groups=options["group"],
                deidentify=options["deidentify"],
                date_mode=dates,
                site_mode=options["sites"],
            )
            self.stdout.write(
                f"Wrote {', '.join(p.name for p in written)} to {options['directory']} "
                f"({project.records} records, {len(project.rows)} record-event rows, "
                f"{len(project.fields)} fields)."
            )
            return
        files, tables = trial.export_trial(
            options["directory"],
            fmt=fmt,
            sites=options["site"],
            groups=options["group"],
            deidentify=options["deidentify"],
            date_mode=dates,
            site_mode=options["sites"],
        )
        self.stdout.write(
            f"Wrote {', '.join(p.name for p in files)} to {options['directory']} "
            f"({len(tables.long)} subject-visits, {len(tables.wide)} subjects, "
            f"{len(tables.events)} events)."
        )
