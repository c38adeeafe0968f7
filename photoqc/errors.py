"""The one error type photoqc raises for problems a user can act on.

A :class:`PhotoqcError` carries a one-line message that says what went wrong and what to
do, the exit code the command line ends with, and the HTTP status (and a stable code)
the service answers with. Every module's own errors (an unreadable image, a malformed
labels file, a tampered model folder, missing weights...) derive from it, so the CLI maps
them in one place and the service in one exception handler; anything else that escapes
is a bug and is shown as one.

Exit codes: 1 the job could not run (the default), 2 wrong usage, 3 the job ran but some
rows are errors (``--fail-on-error``), 130 interrupted.
"""

from __future__ import annotations

EXIT_FAILED = 1
"""The job could not run (bad input folder or CSV, missing weights, a broken model)."""

EXIT_USAGE = 2
"""Wrong usage: an option missing, a value out of range, options that exclude each other."""

EXIT_ROWS_FAILED = 3
"""The job ran, but some rows are errors and ``--fail-on-error`` was given."""

EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C or SIGTERM (the rows written so far are kept)."""


class PhotoqcError(Exception):
    """A problem photoqc can name, in one line.

    Subclasses set :attr:`exit_code`, :attr:`http_status` and :attr:`code` for their kind
    of problem; an instance may override them.

    Parameters
    ----------
    message : str
        What went wrong and, where it helps, what to do; one line.
    hint : str, optional
        A second line the command line shows under the message.
    """

    exit_code: int = EXIT_FAILED
    http_status: int = 400
    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(PhotoqcError):
    """Options that cannot be used as given (exit code 2)."""

    exit_code = EXIT_USAGE
    code = "bad_request"
