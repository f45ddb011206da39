"""Fencing: an attempt that is over on the server is deleted from its cluster.

Every new attempt (an update, a rerun, a move off a silent cluster) sends the cancel of the
previous one to the previous one's cluster, in the same transaction as the new attempt; and any
later report of an older attempt that is still alive is answered with the same cancel, so a
cluster that was silent at fencing time deletes the Job when it returns. An older attempt's news
never changes the job (`kjs.core.states`), so it gets no webhook either.
"""

from __future__ import annotations

from kjs.core import messages
from kjs.core.records import JobRecord


def cancel_message(
    job_id: str, attempt: int, cluster_id: str, namespace: str, k8s_name: str
) -> tuple[str, bytes]:
    """The control message that deletes one attempt's Job from its cluster."""
    body = messages.encode(
        messages.Control(
            action="cancel",
            job_id=job_id,
            attempt=attempt,
            namespace=namespace,
            k8s_name=k8s_name,
        )
    )
    return messages.control_topic(cluster_id), body


def cancel_attempt(job: JobRecord) -> list[tuple[str, bytes]]:
    """The cancel of the job's current attempt, for its cluster (none if it has none)."""
    if job.cluster_id is None:
        return []
    return [cancel_message(job.id, job.attempt, job.cluster_id, job.spec.namespace, job.k8s_name)]


def fence_previous(before: JobRecord, after: JobRecord) -> list[tuple[str, bytes]]:
    """When a change starts a new attempt, the cancel of the attempt it replaces."""
    return cancel_attempt(before) if after.attempt != before.attempt else []
