"""Logs that explain themselves: why a job's log is empty, and when a follow asks its agent to
stream it.

`log_collect` decides what the agent keeps at the end (`always`, `on_failure`: only a failed
attempt's, `never`); a follow of a running job whose policy would keep nothing yet asks the agent
to stream that attempt now (`Control(action="stream_logs")`). When there is nothing to show, the
answer says why in one line (the body) and in the `X-Kjs-Logs-Note` header.
"""

from __future__ import annotations

from kjs.core.records import JobRecord
from kjs.core.states import JobState

NOTE_HEADER = "X-Kjs-Logs-Note"
# An attempt whose Job is (or is about to be) on a cluster, not finished there.
_ON_CLUSTER = frozenset({JobState.DISPATCHED, JobState.CREATED, JobState.RUNNING})
_NOT_STARTED = frozenset({JobState.PENDING, JobState.DISPATCHED, JobState.CREATED})
_KEEP_THEM = 'submit with "log_collect": "always" to keep them'


def streams_on_request(job: JobRecord, attempt: int) -> bool:
    """Whether a follow of `attempt` should ask the job's agent to stream it now: the attempt is
    current and on a cluster, and its policy would send nothing until it ends. `always` streams
    already; `never` means its logs are not to reach kjs at all, a follow included."""
    return (
        job.attempt == attempt
        and job.cluster_id is not None
        and job.state in _ON_CLUSTER
        and job.spec.log_collect == "on_failure"
    )


def printable(text: str) -> str:
    """`text` as one line of printable ASCII (escaped): safe as a header's value, and a
    filter's value (the user's) cannot break the note's line."""
    ascii_text = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in ascii_text)


def _filters(pod: str | None, container: str | None) -> str:
    return " ".join(
        f"{k}={printable(v)}" for k, v in (("pod", pod), ("container", container)) if v is not None
    )


def note_line(note: str) -> bytes:
    """The note as the body's one line."""
    return f"[kjs: {note}]\n".encode()


def no_logs_note(
    job: JobRecord, attempt: int, *, pod: str | None = None, container: str | None = None
) -> str:
    """Why `attempt` of `job` has no log to show (the sink holds none for it, or none of
    `pod`/`container`), in a user's words."""
    scope = (
        "no logs" if pod is None and container is None else f"no logs of {_filters(pod, container)}"
    )
    policy = job.spec.log_collect
    if job.attempt != attempt:
        # An earlier attempt: its outcome is in the events, not on the job.
        if policy == "never":
            return f'{scope} for attempt {attempt}: log_collect is "never"'
        return (
            f"{scope} for attempt {attempt}: none were kept "
            f'(log_collect is "{policy}"; "on_failure" keeps a failed attempt\'s only)'
        )
    state = job.state
    if policy == "never":
        return f'{scope} kept: log_collect is "never"; {_KEEP_THEM}'
    if state in _NOT_STARTED:
        return f"{scope} yet: the job has not started (it is {state})"
    ran = job.started_at is not None or bool(job.exit_codes)
    if state == JobState.CANCELLED and not ran:
        return f"{scope}: the job was cancelled before it started"
    if state == JobState.RUNNING:
        if policy == "on_failure":
            return (
                f'{scope} yet: log_collect is "on_failure", so they are kept only if the job '
                "fails; follow them (follow=true, kjs logs -f) to stream them now"
            )
        return f"{scope} yet: the job has written nothing so far"
    if state == JobState.CANCELLING:
        return f"{scope}: the job is being cancelled"
    if state == JobState.LOST:
        return f"{scope} yet: the job's cluster is not answering (the job is lost)"
    if state == JobState.SUCCEEDED and policy == "on_failure":
        return f'{scope} kept: log_collect is "on_failure" and the job succeeded; {_KEEP_THEM}'
    if state == JobState.CANCELLED and policy == "on_failure":
        return f'{scope} kept: log_collect is "on_failure" and the job was cancelled; {_KEEP_THEM}'
    if state == JobState.FAILED and not ran:
        reason = f" ({job.reason})" if job.reason else ""
        return f"{scope}: the job failed before any container ran{reason}"
    return f"{scope}: the job's containers wrote nothing (the job {state})"


def other_logs_note(pod: str | None, container: str | None, others: list[str]) -> str:
    """None of the attempt's logs is of `pod`/`container`, but these ("pod/container") are."""
    names = ", ".join(sorted(others))
    return f"no logs of {_filters(pod, container)}; this attempt has logs of {names}"
