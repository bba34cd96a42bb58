"""Text that a spreadsheet would run: the formula neutralization of every CSV and XLSX for people.

A text cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
spreadsheets skip before reading one of those) is a formula to Excel, LibreOffice and Google Sheets
when the file is opened: a comment ``=HYPERLINK("http://x","y")`` becomes a live link, or worse
(OWASP "CSV injection"). ``neutralize`` puts a single quote before such text; numbers, dates and
booleans are never touched (a negative band contrast stays a number). ``analysis.exports.cells``
applies it to data frames and writes XLSX files; the access log's CSV applies it to its cells.
"""

from __future__ import annotations

from typing import Any

#: What a formula (or a field some spreadsheets turn into one) starts with.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def is_formula(value: Any) -> bool:
    """Whether ``value`` is text a spreadsheet would read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def neutralize(value: Any) -> Any:
    """``value`` with a leading quote when it is text a spreadsheet would read as a formula."""
    return QUOTE + value if is_formula(value) else value
