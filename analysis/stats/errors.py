"""Errors raised by the statistics package, mapped by the API to HTTP answers."""


class InsufficientDataError(ValueError):
    """Too few subjects, observations or events for the requested analysis.

    The message says what is missing in words a coordinator understands; the API answers 422 with
    it.
    """


class ParameterError(ValueError):
    """An unknown outcome, level, event kind or option was requested; the API answers 400."""
