"""What the API can do with queues, and the queue checks every job passes at submit (REST,
compatibility routes, plugins' routes: all go through `JobService`). Transport-free.

The configuration's queues (`[scheduling.queues]`, and `default`) are read-only; the others live
in the store (`QueueStore`). A name defined in both is the configuration's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kjs.core import queues
from kjs.core.clock import now
from kjs.core.components import Components
from kjs.core.errors import Conflict, NotFound
from kjs.core.models import JobSpec
from kjs.core.protocols import QueueInUse
from kjs.core.queues import Queue, QueueDefinition, QueueRecord
from kjs.core.validation import FieldError, InvalidInput


class QueueService:
    def __init__(self, components: Components) -> None:
        self.c = components
        self.configured = queues.configured(components.settings.scheduling.queues)

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

    async def admission_errors(self, specs: Sequence[JobSpec]) -> list[str | None]:
        """Per job, why its queue does not take it (None: it does): an unknown queue, or one
        whose `namespaces` leave its namespace out."""
        found = await self.definitions([s.queue for s in specs])
        names: list[str] | None = None
        if any(s.queue not in found for s in specs):
            names = await self.known()
        return [
            queues.admission_problem(s.queue, found.get(s.queue), s.namespace, names or ())
            for s in specs
        ]

    async def check(self, spec: JobSpec) -> None:
        """A 400 naming `queue` unless the job's queue exists and takes its namespace."""
        (problem,) = await self.admission_errors([spec])
        if problem is not None:
            raise InvalidInput([FieldError("queue", problem)])


def _view(record: QueueRecord) -> Queue:
    return queues.view(record.name, record.definition, "api", record.created_at, record.updated_at)
