"""Pure statistics for MotorBand: progression, survival, diagnostic accuracy, agreement, ComBat.

Functions take pandas DataFrames and return plain JSON-serializable dicts (Python floats, ints and
None, never NaN). Nothing here imports Django.
"""

from analysis.stats.errors import DegenerateModelError, InsufficientDataError, ParameterError

__all__ = ["DegenerateModelError", "InsufficientDataError", "ParameterError"]
