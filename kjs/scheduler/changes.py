"""Every stored change of a job's state is told once, by whichever service made it: one INFO
line for the operator (job id, attempt, cluster, state, reason) and the plugins'
`on_job_state_changed` hook (which also counts it, `kjs_job_state_changes_total`)."""

from __future__ import annotations

from collections.abc import Sequence

from kjs.core.logconfig import get_logger
from kjs.core.plugins import Plugins
from kjs.core.records import JobRecord

log = get_logger("kjs.jobs")


def accepted(jobs: Sequence[JobRecord], principal: str = "") -> None:
    """New jobs, stored: one line each; a batch's in one line (a line per job cost a tenth of
    a batched job's CPU), naming its first and last ids and its namespaces."""
    if len(jobs) == 1:
        (job,) = jobs
        log.info(
            "job accepted",
            job_id=job.id,
            name=job.spec.name,
            namespace=job.spec.namespace,
            state=str(job.state),
            by=principal or None,
        )
    elif jobs:
        log.info(
            "jobs accepted",
            count=len(jobs),
            first_job_id=jobs[0].id,
            last_job_id=jobs[-1].id,
            namespaces=",".join(sorted({job.spec.namespace for job in jobs})),
            state=str(jobs[0].state),
            by=principal or None,
        )


def state_changed(plugins: Plugins, before: JobRecord, after: JobRecord) -> None:
    """`before` became `after` in the store (a new state, or a new attempt)."""
    log.info(
        "job state changed",
        job_id=after.id,
        attempt=after.attempt,
        cluster=after.cluster_id,
        state=str(after.state),
        previous=str(before.state),
        reason=after.reason,
        message=after.message,
    )
    plugins.job_state_changed(after, str(before.state), str(after.state))
