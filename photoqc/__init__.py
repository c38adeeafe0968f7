"""photoqc: is this listing photo technically good enough to publish, and why not?"""

from photoqc._version import __version__


def check(photo, model=None, *, features: bool = False) -> dict:
    """One photo's verdict, p_good and reasons as a record (the one ``POST /v1/check``
    answers): :func:`photoqc.checking.check`. The model's scorer is built on the first call
    and reused."""
    from photoqc.checking import check as checked

    return checked(photo, model, features=features)


__all__ = ["__version__", "check"]
