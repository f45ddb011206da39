"""The rules a gang's jobs keep (docs/queues.md "Gangs"): jobs submitted together through the
batch route with one `gang` id and `gang_size`, placed on one cluster all at once or not at all.
Pure checks; the batch route's service runs them, placement (`kjs.scheduler.gangs`) relies on
them (one gang, one placement key)."""

from __future__ import annotations

from collections.abc import Sequence

from kjs.core.models import JobSpec
from kjs.core.routing import placement_key
from kjs.core.validation import FieldError

MAX_GANG = 1_000  # members a gang has at most (`JobSpec.gang_size`)
BATCH_ONLY = "only POST /api/v1/jobs:batch takes gang members (gang, gang_size)"
# What every member of a gang shares: its placement key (queue, namespace, priority, route).
SHARED = ("namespace", "queue", "priority_class", "cluster", "cluster_selector", "gang_size")


def single_route_errors(spec: JobSpec) -> list[FieldError]:
    """A gang field on a route that takes one job (submit, dry run)."""
    if spec.gang is None and spec.gang_size is None:
        return []
    return [FieldError("gang" if spec.gang is not None else "gang_size", BATCH_ONLY)]


def batch_errors(specs: Sequence[JobSpec]) -> list[FieldError]:
    """A batch's gangs: every member in this batch, exactly `gang_size` of them, all sharing
    namespace, queue, priority class and routing (`items[i].<field>`)."""
    members: dict[str, list[int]] = {}
    for index, spec in enumerate(specs):
        if spec.gang is not None and spec.gang_size is not None:
            members.setdefault(spec.gang, []).append(index)
    errors: list[FieldError] = []
    for gang, indexes in members.items():
        first = specs[indexes[0]]
        for index in indexes[1:]:
            for name in SHARED:
                if getattr(specs[index], name) != getattr(first, name):
                    errors.append(
                        FieldError(
                            f"items[{index}].{name}",
                            f"differs from items[{indexes[0]}].{name}: the jobs of gang {gang} "
                            f"share {', '.join(SHARED)}",
                        )
                    )
        size = first.gang_size or 0
        if len(indexes) != size and not errors:
            errors.append(
                FieldError(
                    f"items[{indexes[0]}].gang_size",
                    f"gang {gang} has {len(indexes)} jobs in this batch, gang_size says {size}: "
                    "every member of a gang is submitted in one batch",
                )
            )
        if placement_key(first.cluster, first.cluster_selector, gang) is None:
            errors.append(
                FieldError(
                    f"items[{indexes[0]}].cluster_selector",
                    f"the routing of gang {gang} is too long for a gang (cluster, "
                    "cluster_selector)",
                )
            )
    return errors


def edit_errors(current: JobSpec, edited: JobSpec) -> list[FieldError]:
    """An edit of a gang's member may not move it out of its gang (nor a job into one)."""
    if current.gang is None and edited.gang is None and edited.gang_size is None:
        return []
    return [
        FieldError(name, "a gang member's gang, namespace, queue, priority class and routing stay")
        for name in ("gang", *SHARED)
        if getattr(current, name) != getattr(edited, name)
    ]
