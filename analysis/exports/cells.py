"""Spreadsheet cells that stay data: formula neutralization of data frames and constant-memory
Excel files.

Text cells a spreadsheet would read as formulas get a leading single quote (``core.spreadsheets``);
numbers, dates and booleans never do (a negative band contrast stays a number). Used for every
spreadsheet MotorBand writes for people (the trial dataset's CSV, XLSX and data dictionary, the
analysis pages' CSV). Not for the REDCap project (``analysis.exports.redcap``) or the BIDS bundle's
TSVs: they are imported back as they are, and a quote would change the values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook

from core.spreadsheets import FORMULA_STARTS, QUOTE, is_formula, neutralize

__all__ = ["FORMULA_STARTS", "QUOTE", "neutralize", "neutralized", "write_xlsx"]

#: Excel's longest sheet name.
SHEET_NAME_MAX = 31


def neutralized(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are neutralized; number, date and boolean columns are
    the same objects (text columns only are copied)."""
    out = frame.copy(deep=False)
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_string_dtype(series.dtype) and series.map(is_formula).any():
            out[column] = series.map(neutralize)
    return out


def _cell(value: Any) -> Any:
    """A pandas/numpy value as openpyxl writes it: missing as an empty cell, numpy scalars and
    timestamps as Python ones, text neutralized."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return neutralize(value)


def write_xlsx(frame: pd.DataFrame, path: Path, *, sheet: str) -> Path:
    """Write ``frame`` (a header row, then one row per record) as one sheet of an XLSX file.

    openpyxl's write-only mode streams the rows to the file, so memory does not grow with them.
    """
    book = Workbook(write_only=True)
    worksheet = book.create_sheet(title=sheet[:SHEET_NAME_MAX])
    worksheet.append([neutralize(str(column)) for column in frame.columns])
    for row in _rows(frame):
        worksheet.append([_cell(value) for value in row])
    book.save(path)
    return path


def _rows(frame: pd.DataFrame) -> Iterable[tuple[Any, ...]]:
    return frame.itertuples(index=False, name=None)
