"""What the services raise and every route family maps to a status (kjs.api.errors), and how an
error reads to a user."""

from __future__ import annotations


class NotFound(LookupError):
    """No such job, cron job or cluster, or not one the caller may see (404)."""


class Conflict(RuntimeError):
    """The request does not fit the job's state (409)."""


class Gone(LookupError):
    """A watch cursor older than the history kept, or not from this store (410): list again."""


def error_text(error: BaseException) -> str:
    """`Type: message` of an error, of the errors inside it for a group (what a user can read)."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(error_text(inner) for inner in error.exceptions)
    return f"{error.__class__.__name__}: {error}"
