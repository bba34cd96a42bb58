"""Spreadsheet cells that stay data: formula neutralization of data frames and constant-memory
Excel files (written as streamed SpreadsheetML, ``write_xlsx``).

Text cells a spreadsheet would read as formulas get a leading single quote (``core.spreadsheets``);
numbers, dates and booleans never do (a negative band contrast stays a number). Used for every
spreadsheet MotorBand writes for people (the trial dataset's CSV, XLSX and data dictionary, the
analysis pages' CSV, the SDTM domains' CSV through ``neutralize_text``). Not for the REDCap project (``analysis.exports.redcap``) or the BIDS bundle's
TSVs: they are imported back as they are, and a quote would change the values.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.spreadsheets import FORMULA_STARTS, QUOTE, is_formula, neutralize

__all__ = [
    "FORMULA_STARTS",
    "QUOTE",
    "neutralize",
    "neutralize_text",
    "neutralized",
    "write_xlsx",
]

#: A plain decimal number as text ("-0.05", "+3", "1e-05"): a spreadsheet reads it as a number.
NUMBER_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")

#: Excel's longest sheet name.
SHEET_NAME_MAX = 31


def neutralize_text(value: Any) -> Any:
    """``neutralize`` for files whose every cell is text (SDTM's character results): a plain
    decimal number such as ``-0.05`` is left as it is (a spreadsheet reads it as a number, and a
    quote would change a standard character result); any other text that reads as a formula
    gets its quote."""
    if isinstance(value, str) and NUMBER_TEXT.fullmatch(value):
        return value
    return neutralize(value)


def neutralized(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are neutralized; number, date and boolean columns are
    the same objects (text columns only are copied)."""
    out = frame.copy(deep=False)
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_string_dtype(series.dtype) and series.map(is_formula).any():
            out[column] = series.map(neutralize)
    return out


# --- XLSX ---------------------------------------------------------------------------------------
#
# The sheet is written as SpreadsheetML text straight into the zip, row by row (inline strings, no
# shared-string table): memory does not grow with the rows, and each cell costs a string format
# rather than an object (openpyxl's write-only mode, without lxml, took about 10 us a cell: 70 s
# for the 10,000-subject trial dataset).

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES = (
    _XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    _XML + f'<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    _XML + f'<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL_NS}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
#: Cell styles: 0 general, 1 a date (yyyy-mm-dd), 2 a date and time.
DATE_STYLE, DATETIME_STYLE = 1, 2
_STYLES = (
    _XML + f'<styleSheet xmlns="{_MAIN_NS}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
#: Excel's day 0 (its 1900 date system, as every spreadsheet reads it for dates after 1900-03-01).
_EPOCH = dt.datetime(1899, 12, 30)
_EPOCH_DATE = _EPOCH.date()
#: Characters XML 1.0 cannot hold (control characters other than tab, newline, return).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: Excel's longest cell text.
CELL_TEXT_MAX = 32767
#: Rows gathered before each write to the zip.
_ROWS_PER_WRITE = 500


def _column_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, ..."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _text_cell(ref: str, text: str) -> str:
    text = neutralize(text)
    if len(text) > CELL_TEXT_MAX:
        text = text[:CELL_TEXT_MAX]
    text = _ILLEGAL_XML.sub("", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _xml_cell(ref: str, value: Any) -> str:
    """One cell of the sheet: numbers as numbers, dates as dated serial numbers, booleans as
    booleans, anything else as (neutralized) text; missing values as no cell at all."""
    kind = type(value)
    if kind is float:
        if value != value or value in (math.inf, -math.inf):
            return ""
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if kind is int:
        return f'<c r="{ref}"><v>{value}</v></c>'
    if kind is str:
        return _text_cell(ref, value)
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, bool | np.bool_):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, np.generic):
        return _xml_cell(ref, value.item())
    if isinstance(value, dt.datetime):  # pd.Timestamp too
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        serial = (value - _EPOCH).total_seconds() / 86400
        if serial == int(serial):
            return f'<c r="{ref}" s="{DATE_STYLE}"><v>{int(serial)}</v></c>'
        return f'<c r="{ref}" s="{DATETIME_STYLE}"><v>{serial!r}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="{DATE_STYLE}"><v>{(value - _EPOCH_DATE).days}</v></c>'
    if isinstance(value, int | float):  # Decimal-free numeric subclasses
        return _xml_cell(ref, float(value) if isinstance(value, float) else int(value))
    return _text_cell(ref, str(value))


def write_xlsx(frame: pd.DataFrame, path: Path, *, sheet: str) -> Path:
    """Write ``frame`` (a header row, then one row per record) as one sheet of an XLSX file.

    The sheet's rows are streamed into the zip as they are formatted, so memory does not grow
    with them; every text cell (the header too) is neutralized.
    """
    name = sheet[:SHEET_NAME_MAX].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    name = name.replace('"', "&quot;")
    workbook = (
        _XML + f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><sheets>'
        f'<sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    letters = [_column_letters(i) for i in range(len(frame.columns))]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=5) as book:
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/workbook.xml", workbook)
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        book.writestr("xl/styles.xml", _STYLES)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write(f'{_XML}<worksheet xmlns="{_MAIN_NS}"><sheetData>'.encode())
            header = "".join(
                _text_cell(f"{letter}1", str(column))
                for letter, column in zip(letters, frame.columns, strict=True)
            )
            out.write(f'<row r="1">{header}</row>'.encode())
            chunk: list[str] = []
            for number, row in enumerate(_rows(frame), start=2):
                cells = "".join(
                    [
                        _xml_cell(f"{letter}{number}", value)
                        for letter, value in zip(letters, row, strict=True)
                    ]
                )
                chunk.append(f'<row r="{number}">{cells}</row>')
                if len(chunk) >= _ROWS_PER_WRITE:
                    out.write("".join(chunk).encode())
                    chunk.clear()
            out.write("".join(chunk).encode())
            out.write(b"</sheetData></worksheet>")
    return path


def _rows(frame: pd.DataFrame) -> Iterable[tuple[Any, ...]]:
    return frame.itertuples(index=False, name=None)
