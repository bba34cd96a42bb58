"""De-identification of the trial tables: pseudonymous codes, relative or shifted dates, no free text.

Subject codes are an HMAC of the study id under the release key, so one key always gives the same
codes (a statistician can merge two releases) and nobody without it can go back to the study id.
Dates become days from the subject's baseline (V1; enrolment where there is no V1) or are shifted by a
per-subject offset (1-365 days either way, also from the HMAC); the birth date becomes the age in
whole years (top-coded at 90, as HIPAA Safe Harbor asks); free-text comments are dropped; sites are
kept or replaced by codes. Rows are re-sorted by pseudonym so their order does not leak study ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.exports.dictionary import DATE_TO_DAY

BASELINE, SHIFT = "baseline", "shift"
DATE_MODES = (BASELINE, SHIFT)
KEEP, CODE = "keep", "code"
SITE_MODES = (KEEP, CODE)
KEY_ENV = "MOTORBAND_RELEASE_KEY"
PSEUDONYM_PREFIX = "MB-"
PSEUDONYM_LENGTH = 10
MAX_SHIFT_DAYS = 365
AGE_TOP_CODE_YEARS = 90
FREE_TEXT_COLUMNS = ("subject_comment", "visit_comment", "event_comment", "alsfrs_not_done_reason")
#: Identifying columns dropped outright (the age in years replaces the birth date).
DROPPED_COLUMNS = ("birth_date", *FREE_TEXT_COLUMNS)
YEAR_DAYS = 365.25


def release_key() -> bytes:
    """The key of the pseudonyms: ``MOTORBAND_RELEASE_KEY`` (setting or environment), else one
    derived from ``SECRET_KEY`` so that a deployment's codes are stable without extra setup."""
    from django.conf import settings

    configured = getattr(settings, KEY_ENV, None) or os.environ.get(KEY_ENV)
    if configured:
        return str(configured).encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"motorband-release-key", hashlib.sha256).digest()


def _digest(key: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def pseudonym(study_id: str, key: bytes) -> str:
    """The subject's pseudonymous code under ``key`` (e.g. ``MB-7KQ2M4XZ9A``)."""
    code = base64.b32encode(_digest(key, "subject", study_id)).decode()
    return PSEUDONYM_PREFIX + code[:PSEUDONYM_LENGTH]


def shift_days(study_id: str, key: bytes) -> int:
    """The subject's date offset under ``key``: ±1..365 days, never 0."""
    number = int.from_bytes(_digest(key, "shift", study_id)[:4], "big")
    days = 1 + number % MAX_SHIFT_DAYS
    return days if (number >> 16) % 2 else -days


def site_codes(codes: list[str], key: bytes) -> dict[str, str]:
    """Coded sites: S1, S2, ... in an order set by ``key`` (not by name)."""
    ordered = sorted(codes, key=lambda code: _digest(key, "site", code))
    return {code: f"S{i}" for i, code in enumerate(ordered, start=1)}


def _anchor(long: pd.DataFrame) -> pd.Series:
    """Per subject: the V1 date, or the enrolment date where the subject has no dated V1."""
    v1 = long.loc[long["visit_code"] == "V1"].set_index("subject")["visit_date"].dropna()
    enrolled = long.drop_duplicates("subject").set_index("subject")["enrolled_on"]
    return v1.reindex(enrolled.index).fillna(enrolled)


def _ages(frame: pd.DataFrame) -> None:
    for column in ("age", "age_at_enrolment"):
        if column in frame:
            years = np.floor(pd.to_numeric(frame[column], errors="coerce").astype(float))
            frame[column] = pd.Series(
                np.minimum(years, AGE_TOP_CODE_YEARS), index=frame.index
            ).astype("Int64")


def _dates(
    frame: pd.DataFrame, anchors: pd.Series, offsets: pd.Series, date_mode: str
) -> pd.DataFrame:
    for column in list(frame.columns):
        if column not in DATE_TO_DAY:
            continue
        dates = pd.to_datetime(frame[column])
        if date_mode == BASELINE:
            days = (dates - frame["subject"].map(anchors)).dt.days.astype("Int64")
            position = frame.columns.get_loc(column)
            frame = frame.drop(columns=column)
            frame.insert(position, DATE_TO_DAY[column], days)
        else:
            shift = pd.to_timedelta(frame["subject"].map(offsets), unit="D")
            frame[column] = (dates + shift).astype(dates.dtype)
    return frame


def scanner_codes(names: list[str], key: bytes) -> dict[str, str]:
    """Coded scanners: SC1, SC2, ... in an order set by ``key``. A scanner model installed at one
    site names the site as surely as its code does, so scanners are coded with the sites."""
    ordered = sorted(names, key=lambda name: _digest(key, "scanner", name))
    return {name: f"SC{i}" for i, name in enumerate(ordered, start=1)}


def deidentify(
    long: pd.DataFrame,
    events: pd.DataFrame,
    *,
    key: bytes,
    date_mode: str = BASELINE,
    site_mode: str = KEEP,
    site_names: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """De-identify the long and event tables (columns as ``analysis.exports.trial`` builds them).

    Parameters
    ----------
    key : the release key (``release_key()``); the same key gives the same codes and offsets.
    date_mode : ``"baseline"`` — each date column ``X`` becomes days from the subject's V1
        (``visit_day``, ``onset_day``, ...); ``"shift"`` — dates keep their columns, shifted by the
        subject's offset (intervals preserved).
    site_mode : ``"keep"`` the site codes or ``"code"`` them as S1, S2, ... (and the scanners as
        SC1, SC2, ...: a site's scanner gives the site away; field strength stays, for
        harmonization)
    site_names : site code → name; returned coded (S1 → S1) when sites are coded.

    Returns
    -------
    (long, events, site_names) with the subject column holding pseudonyms.
    """
    if date_mode not in DATE_MODES:
        raise ValueError(f"date_mode must be one of {', '.join(DATE_MODES)} (got {date_mode!r}).")
    if site_mode not in SITE_MODES:
        raise ValueError(f"site_mode must be one of {', '.join(SITE_MODES)} (got {site_mode!r}).")
    long = long.copy()
    events = events.copy()
    anchors = _anchor(long) if not long.empty else pd.Series(dtype="datetime64[s]")
    subjects = sorted(set(long["subject"]) | set(events["subject"]))
    offsets = pd.Series({s: shift_days(s, key) for s in subjects}, dtype="int64")
    codes = {s: pseudonym(s, key) for s in subjects}
    names = dict(site_names or {})
    site_map: dict[str, str] | None = None
    if site_mode == CODE:
        site_map = site_codes(sorted(set(names) | set(long["site"]) | set(events["site"])), key)
        names = {coded: coded for coded in site_map.values()}
    known = sorted({str(v) for v in long.get("scanner", pd.Series(dtype=object)).dropna()})
    scanners = scanner_codes(known, key)
    tables = []
    for frame in (long, events):
        frame = frame.drop(columns=[c for c in DROPPED_COLUMNS if c in frame])
        _ages(frame)
        frame = _dates(frame, anchors, offsets, date_mode)
        frame["subject"] = frame["subject"].map(codes)
        if site_map is not None:
            frame["site"] = frame["site"].map(site_map)
            if "scanner" in frame:
                frame["scanner"] = frame["scanner"].map(scanners)
        order = ["subject"]
        if "visit_code" in frame:
            frame["_number"] = frame["visit_code"].str[1:].astype(int)
            order.append("_number")
        frame = frame.sort_values(order, kind="stable").drop(columns=["_number"], errors="ignore")
        tables.append(frame.reset_index(drop=True))
    return tables[0], tables[1], names
