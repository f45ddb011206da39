"""The per-attempt job state machine (CONTRACT §5): monotonic and idempotent.

Events may arrive twice, out of order, or from an older attempt; `next_state` decides, for the
state a job is in and an event, what the job's state becomes — or None to ignore the event.
"""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    CREATED = "created"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

# Progress along the normal path; an event never moves a job to a lower rank.
_RANK = {
    JobState.PENDING: 0,
    JobState.DISPATCHED: 1,
    JobState.CREATED: 2,
    JobState.RUNNING: 3,
    JobState.SUCCEEDED: 4,
    JobState.FAILED: 4,
}


def next_state(
    current: JobState, current_attempt: int, event: JobState, event_attempt: int
) -> JobState | None:
    """The job's new state after `event`, or None when the event changes nothing."""
    if event_attempt != current_attempt:
        return None  # an older attempt's news (or a not-yet-known newer one) never applies
    if current.is_final or event == current:
        return None
    if current == JobState.CANCELLING:
        # The job may have finished on its own before the cancellation reached it.
        return event if event.is_final else None
    if event == JobState.CANCELLING:
        return event
    if event == JobState.CANCELLED:
        return event
    if current == JobState.LOST:
        # Its cluster is back: whatever it reports now is the truth, except going back to start.
        return event if event not in (JobState.PENDING, JobState.DISPATCHED) else None
    if event == JobState.LOST:
        return (
            event if current in (JobState.DISPATCHED, JobState.CREATED, JobState.RUNNING) else None
        )
    return event if _RANK[event] > _RANK[current] else None
