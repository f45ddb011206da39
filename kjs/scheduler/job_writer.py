"""New jobs are written by group commit (kjs.core.group_commit): one transaction for all the
submissions that arrive while the store writes."""

from __future__ import annotations

from collections.abc import Sequence

from kjs.core.group_commit import GroupCommit
from kjs.core.protocols import Idempotency, IdempotencyConflict, JobStore
from kjs.core.records import JobRecord

NewJob = tuple[JobRecord, Idempotency | None]


class JobWriter(GroupCommit[NewJob, JobRecord]):
    """`JobStore.create_jobs`, grouped: a scope held for the same request returns its job; a
    key used for another request fails only the caller that sent it (IdempotencyConflict, its
    `index` counted in that caller's own jobs), and the rest of the group is written without it."""

    def __init__(self, store: JobStore) -> None:
        super().__init__(store.create_jobs)

    def isolate(
        self, error: Exception, group: Sequence[Sequence[NewJob]]
    ) -> tuple[int, Exception] | None:
        if not isinstance(error, IdempotencyConflict):
            return None
        first = 0
        for place, jobs in enumerate(group):
            if error.index < first + len(jobs):
                return place, IdempotencyConflict(error.index - first, error.job_id)
            first += len(jobs)
        return None
