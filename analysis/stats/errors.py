"""Errors raised by the statistics package, mapped by the API to HTTP answers."""


class InsufficientDataError(ValueError):
    """Too few subjects, observations or events for the requested analysis.

    The message says what is missing in words a coordinator understands; the API answers 422 with
    it.
    """


class DegenerateModelError(InsufficientDataError):
    """The data cannot identify the model: any estimate would look like a finding and be wrong.

    Examples: a level of a Cox covariate where nobody has the event (controls do not die of ALS),
    a covariate that perfectly predicts the event, an outcome with no variance, a mixed model
    without between-subject variance. The message is one or more complete sentences saying what is
    degenerate, naming the variable or level, and what to do instead. A subclass of
    :class:`InsufficientDataError`, so callers that catch that (and the API, which answers 422)
    handle it unchanged.
    """


class ParameterError(ValueError):
    """An unknown outcome, level, event kind or option was requested; the API answers 400."""
