"""What the API can do with queues, and the queue checks every job passes at submit (REST,
compatibility routes, plugins' routes: all go through `JobService`), with its priority class:
one that is defined, resolved to the priority the job is stored with. Transport-free.

The configuration's queues (`[scheduling.queues]`, and `default`) are read-only; the others live
in the store (`QueueStore`). A name defined in both is the configuration's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple

from kjs.core import priorities, queues
from kjs.core.clock import now
from kjs.core.components import Components
from kjs.core.errors import Conflict, NotFound
from kjs.core.models import JobSpec
from kjs.core.priorities import PriorityClassView
from kjs.core.protocols import QueueInUse
from kjs.core.queues import Queue, QueueDefinition, QueueRecord
from kjs.core.validation import FieldError, InvalidInput


class Admission(NamedTuple):
    """What submitting one job found: why its queue refuses it and why its priority class is
    not one there is (None: no such problem), and the priority it gets."""

    queue: str | None
    priority_class: str | None
    priority: int

    def errors(self) -> list[FieldError]:
        return [
            FieldError(name, problem)
            for name, problem in (("queue", self.queue), ("priority_class", self.priority_class))
            if problem is not None
        ]


class QueueService:
    def __init__(self, components: Components) -> None:
        self.c = components
        self.configured = queues.configured(components.settings.scheduling.queues)
        self.classes = components.settings.scheduling.priority_classes

    def priority_classes(self) -> list[PriorityClassView]:
        """Every priority class of the configuration, highest value first."""
        return priorities.listed(self.classes)

    def _read_only(self, name: str, doing: str) -> Conflict:
        return Conflict(
            f"queue {name!r} is defined in the configuration ([scheduling.queues.{name}]): it "
            f"cannot be {doing} over the API"
        )

    async def list_queues(self) -> list[Queue]:
        """Every queue, by name: the configuration's and the stored ones."""
        stored = await asyncio.to_thread(self.c.store.list_queues)
        found = {name: queues.view(name, d, "config") for name, d in self.configured.items()}
        for record in stored:
            found.setdefault(record.name, _view(record))
        return [found[name] for name in sorted(found)]

    async def get(self, name: str) -> Queue:
        if name in self.configured:
            return queues.view(name, self.configured[name], "config")
        record = await asyncio.to_thread(self.c.store.get_queue, name)
        if record is None:
            raise NotFound(f"queue {name!r} not found")
        return _view(record)

    async def put(self, name: str, definition: QueueDefinition) -> tuple[Queue, bool]:
        """Create or replace an API queue; returns it and whether it is new. A 400 names each
        field that does not fit; a configuration queue is a Conflict."""
        errors = [FieldError(f, why) for f, why in queues.problems(definition, name)]
        pc = definition.priority_class
        named = pc is not None and not any(e.field == "priority_class" for e in errors)
        if named and (unknown := priorities.unknown(pc or "", self.classes)) is not None:
            errors.append(FieldError("priority_class", unknown))
        if errors:
            raise InvalidInput(errors)
        if name in self.configured:
            raise self._read_only(name, "replaced")
        at = now()
        record = QueueRecord(
            name=name,
            definition=QueueDefinition(
                weight=definition.weight,
                limits=definition.limits,
                namespaces=definition.namespaces,
                priority_class=definition.priority_class,
                preemption=definition.preemption,
            ),
            created_at=at,
            updated_at=at,
        )
        stored, created = await asyncio.to_thread(self.c.store.put_queue, record)
        return _view(stored), created

    async def delete(self, name: str) -> None:
        """Delete an API queue: a Conflict while any job in it is unfinished (saying how many),
        or for a configuration queue."""
        if name in self.configured:
            raise self._read_only(name, "deleted")
        try:
            deleted = await asyncio.to_thread(self.c.store.delete_queue, name)
        except QueueInUse as e:
            raise Conflict(
                f"queue {name!r} has {e.unfinished} unfinished job(s) and {e.crons} cron job(s): "
                "delete it once the jobs are final and the cron jobs deleted (or edit them into "
                "another queue)"
            ) from e
        if not deleted:
            raise NotFound(f"queue {name!r} not found")

    async def definitions(self, names: Sequence[str]) -> dict[str, QueueDefinition]:
        """The definitions of the queues named that exist (the store is read only for names the
        configuration does not have)."""
        found = {n: self.configured[n] for n in names if n in self.configured}
        missing = [n for n in dict.fromkeys(names) if n not in found]
        if len(missing) == 1:
            record = await asyncio.to_thread(self.c.store.get_queue, missing[0])
            if record is not None:
                found[record.name] = record.definition
        elif missing:
            stored = await asyncio.to_thread(self.c.store.list_queues)
            found |= {r.name: r.definition for r in stored if r.name in missing}
        return found

    async def known(self) -> list[str]:
        """Every queue's name (for the message of an unknown one)."""
        return [q.name for q in await self.list_queues()]

    async def admit(self, specs: Sequence[JobSpec]) -> list[Admission]:
        """Per job: why its queue does not take it (an unknown queue, or one whose `namespaces`
        leave its namespace out), why its `priority_class` is not one there is, and its
        priority (its class's value, else its queue's class's, else 0)."""
        found = await self.definitions([s.queue for s in specs])
        names: list[str] | None = None
        if any(s.queue not in found for s in specs):
            names = await self.known()
        admitted = []
        for spec in specs:
            queue = found.get(spec.queue)
            pc = spec.priority_class
            admitted.append(
                Admission(
                    queue=queues.admission_problem(spec.queue, queue, spec.namespace, names or ()),
                    priority_class=None if pc is None else priorities.unknown(pc, self.classes),
                    priority=self._priority(spec, queue),
                )
            )
        return admitted

    def _priority(self, spec: JobSpec, queue: QueueDefinition | None) -> int:
        default = queue.priority_class if queue is not None else None
        return priorities.value_of(priorities.effective(spec.priority_class, default), self.classes)

    async def admission_errors(self, specs: Sequence[JobSpec]) -> list[str | None]:
        """Per job, why its queue does not take it (None: it does)."""
        return [a.queue for a in await self.admit(specs)]

    async def check(self, spec: JobSpec) -> int:
        """A 400 naming `queue` unless the job's queue exists and takes its namespace, and
        naming `priority_class` unless its class is defined; else its priority."""
        (admitted,) = await self.admit([spec])
        if errors := admitted.errors():
            raise InvalidInput(errors)
        return admitted.priority

    async def priority_of(self, spec: JobSpec) -> int:
        """The priority a job gets now, without checks: for a rerun, or a cron job's run, whose
        class or queue may have left the configuration since (then 0, or its queue's)."""
        found = await self.definitions([spec.queue])
        return self._priority(spec, found.get(spec.queue))


def _view(record: QueueRecord) -> Queue:
    return queues.view(record.name, record.definition, "api", record.created_at, record.updated_at)
