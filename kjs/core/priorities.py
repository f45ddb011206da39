"""Priority classes (issue 19): `[scheduling.priority_classes.<name>]`, each a `value` (higher is
placed first within a queue) and whether its jobs are `preemptible`. Defined in the configuration
only, read-only over the API (`GET /api/v1/priority-classes`).

A job names its class in `priority_class`; without one, it takes its queue's `priority_class`;
without that, none: priority 0, not preemptible. The service resolves the class to its value when
the job is written (submitted, edited, rerun, fired by a cron) and the store keeps that number
with the job, so a class whose value changes applies to the jobs written after. Pure: no store,
no HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from msgspec import Meta, Struct

from kjs.core.validation import DNS1123_SUBDOMAIN, SUBDOMAIN_MSG

MIN_VALUE = -1_000_000_000
MAX_VALUE = 1_000_000_000
MAX_NAME = 253
_SHOWN_NAME = 80  # characters of an unknown name repeated in its error


class PriorityClass(Struct, forbid_unknown_fields=True, kw_only=True):
    """A `[scheduling.priority_classes.<name>]` table."""

    value: Annotated[
        int,
        Meta(
            ge=MIN_VALUE,
            le=MAX_VALUE,
            description="Higher is placed first within a queue (-1,000,000,000 … 1,000,000,000).",
        ),
    ]
    preemptible: Annotated[
        bool, Meta(description="Whether its running jobs may make room for higher ones.")
    ] = False
    description: str | None = None


class PriorityClassView(Struct, kw_only=True):
    """A priority class as kjs answers it (`GET /api/v1/priority-classes`)."""

    name: str
    value: int
    preemptible: bool
    description: str | None


def view(name: str, definition: PriorityClass) -> PriorityClassView:
    return PriorityClassView(
        name=name,
        value=definition.value,
        preemptible=definition.preemptible,
        description=definition.description,
    )


def listed(classes: Mapping[str, PriorityClass]) -> list[PriorityClassView]:
    """Every class, highest value first (then by name): the order placement favours them in."""
    return [view(name, d) for name, d in sorted(classes.items(), key=lambda i: (-i[1].value, i[0]))]


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a priority class (None: it can)."""
    if len(name) > MAX_NAME or not DNS1123_SUBDOMAIN.fullmatch(name):
        return f"must be at most {MAX_NAME} characters; {SUBDOMAIN_MSG}"
    return None


def unknown(name: str, classes: Mapping[str, PriorityClass]) -> str | None:
    """Why `name` names no class there is (None: it names one), listing the ones there are."""
    if name in classes:
        return None
    shown = name if len(name) <= _SHOWN_NAME else name[:_SHOWN_NAME] + "…"
    defined = ", ".join(sorted(classes)) or "none: [scheduling.priority_classes] is empty"
    return f"unknown priority class {shown!r} (defined: {defined})"


def effective(job_class: str | None, queue_class: str | None) -> str | None:
    """The class a job gets: its own, else its queue's default (None: no class)."""
    return job_class if job_class is not None else queue_class


def value_of(name: str | None, classes: Mapping[str, PriorityClass]) -> int:
    """The priority a job of class `name` gets: the class's value; 0 for no class, or for one
    that is no longer defined (a cron job's runs, a rerun, after the configuration changed)."""
    definition = classes.get(name) if name is not None else None
    return definition.value if definition is not None else 0
