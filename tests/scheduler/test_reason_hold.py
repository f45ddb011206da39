"""A key whose jobs wait at their queue's limit one pass and short of room the next (as jobs
start and end) keeps its reason a moment (REASON_HOLD_S) rather than have every job of the key
rewritten each pass; past that moment, the new reason is written."""

from __future__ import annotations

import msgspec
import pytest

from kjs.core.states import JobState
from kjs.scheduler import placement as placement_module
from tests.scheduler.test_placement_limits import FakeStore, cluster, job, place, placement


def test_a_reason_flipping_between_limit_and_room_is_held_then_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1_000.0]
    monkeypatch.setattr(placement_module.time, "monotonic", lambda: clock[0])
    # (c2 has room: the pass is not skipped as one that can place nothing anywhere.)
    store = FakeStore([cluster("c1", capacity=2), cluster("c2", capacity=2)])
    first, *waiting = [store.add(job(i, queue="a", cluster="c1")) for i in range(3)]
    p = placement(store, queues={"a": {"limits": {"max_running": 1}}, "b": {}})
    assert place(p) == 1  # the queue's one: the others wait at its limit
    assert store.jobs[waiting[0].id].reason == "QueueLimitReached"

    # It ends, and two jobs of b fill c1: the key now waits for room there.
    store.jobs[first.id] = msgspec.structs.replace(store.jobs[first.id], state=JobState.SUCCEEDED)
    for n in (10, 11):
        store.add(
            msgspec.structs.replace(
                job(n, queue="b"), state=JobState.RUNNING, cluster_id="c1", attempt=1
            )
        )
    writes = len(store.reason_writes)
    clock[0] += 0.5
    assert place(p) == 0
    assert len(store.reason_writes) == writes  # held: nothing rewritten
    assert store.jobs[waiting[0].id].reason == "QueueLimitReached"

    clock[0] += placement_module.REASON_HOLD_S
    assert place(p) == 0
    assert [store.jobs[j.id].reason for j in waiting] == ["NoCapacity"] * 2
