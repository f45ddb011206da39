"""Gangs: a gang's jobs are placed on one cluster all at once, in one pass, or none of them
(docs/queues.md "Gangs"); on the fake store of test_placement_limits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from kjs.core.clock import now
from kjs.core.records import JobRecord
from kjs.core.states import JobState
from tests.scheduler.test_placement_limits import (
    FakeStore,
    cluster,
    job,
    place,
    placement,
    states,
    why,
)


def gang(store: FakeStore, name: str, size: int, *, first: int = 0, **spec: Any) -> list[JobRecord]:
    return [store.add(job(first + i, gang=name, gang_size=size, **spec)) for i in range(size)]


def running(store: FakeStore, cluster_id: str, cpu: str) -> JobRecord:
    held = job(99, cpu=cpu)
    return store.add(msgspec.structs.replace(held, state=JobState.RUNNING, cluster_id=cluster_id))


def test_a_gang_goes_whole_to_one_cluster_in_one_pass() -> None:
    store = FakeStore([cluster("c1", cpu="8"), cluster("c2", cpu="8")])
    members = gang(store, "g1", 4, cpu="2")
    assert place(placement(store)) == 4
    assert states(store, *members) == ["dispatched"] * 4
    assert len({store.jobs[m.id].cluster_id for m in members}) == 1  # not spread


def test_a_gang_that_does_not_fit_waits_whole_saying_what_it_needs() -> None:
    store = FakeStore([cluster("c1", cpu="8")])
    holder = running(store, "c1", "1")
    members = gang(store, "g1", 4, cpu="2")
    p = placement(store)
    assert place(p) == 0
    assert states(store, *members) == ["pending"] * 4
    reason, message = why(store, members[0])
    assert reason == "NoCapacity"
    assert message is not None and message.startswith("gang g1 (4 jobs) needs 8 CPU")
    assert "c1 has 7 CPU" in message
    assert why(store, members[3]) == (reason, message)
    # Its room frees up: all four go in the next pass.
    store.jobs[holder.id] = msgspec.structs.replace(holder, state=JobState.SUCCEEDED)
    assert place(p) == 4
    assert states(store, *members) == ["dispatched"] * 4


def test_a_gang_waits_when_two_clusters_together_could_take_it_but_neither_alone() -> None:
    store = FakeStore([cluster("c1", cpu="4"), cluster("c2", cpu="4")])
    members = gang(store, "g1", 3, cpu="2")
    alone = store.add(job(50, cpu="2"))
    assert place(placement(store)) == 1  # the job of no gang goes; the gang would need two
    assert states(store, *members) == ["pending"] * 3
    assert states(store, alone) == ["dispatched"]
    assert why(store, members[0])[0] == "NoCapacity"


def test_a_gang_is_held_by_max_concurrent_jobs_as_a_whole() -> None:
    store = FakeStore([cluster("c1", capacity=3)])
    members = gang(store, "g1", 4)
    assert place(placement(store)) == 0
    assert states(store, *members) == ["pending"] * 4
    reason, message = why(store, members[0])
    assert reason == "NoCapacity" and message is not None
    assert "4 of max_concurrent_jobs" in message and "c1 has 3 of max_concurrent_jobs" in message


def test_a_gang_over_its_queue_limit_waits_whole() -> None:
    store = FakeStore([cluster("c1")])
    members = gang(store, "g1", 3, queue="q")
    p = placement(store, queues={"q": {"limits": {"max_running": 2}}})
    assert place(p) == 0
    assert states(store, *members) == ["pending"] * 3
    assert why(store, members[0])[0] == "QueueLimitReached"
    # The same gang of two fits the limit.
    store2 = FakeStore([cluster("c1")])
    two = gang(store2, "g2", 2, queue="q")
    assert place(placement(store2, queues={"q": {"limits": {"max_running": 2}}})) == 2
    assert states(store2, *two) == ["dispatched"] * 2


def test_a_gang_with_a_member_not_due_waits_for_it() -> None:
    store = FakeStore([cluster("c1")])
    members = gang(store, "g1", 3)
    later = now() + dt.timedelta(hours=1)
    store.jobs[members[2].id] = msgspec.structs.replace(members[2], run_at=later)
    p = placement(store)
    assert place(p) == 0
    assert states(store, *members) == ["pending"] * 3
    reason, message = why(store, members[0])
    assert reason == "WaitingForGang"
    assert message is not None and message.startswith("gang g1: 2 of 3 jobs are due")
    # Its time comes: the three go together.
    store.jobs[members[2].id] = msgspec.structs.replace(members[2], run_at=None)
    assert place(p) == 3


def test_a_member_back_to_pending_for_another_attempt_goes_alone() -> None:
    store = FakeStore([cluster("c1")])
    members = gang(store, "g1", 2)
    p = placement(store)
    assert place(p) == 2
    retried = msgspec.structs.replace(
        store.jobs[members[0].id], state=JobState.PENDING, attempt=2, cluster_id=None
    )
    store.jobs[retried.id] = retried
    assert place(p) == 1
    assert states(store, retried) == ["dispatched"]


def test_jobs_of_no_gang_are_placed_as_before_next_to_a_gang_that_waits() -> None:
    store = FakeStore([cluster("c1", cpu="4")])
    members = gang(store, "g1", 3, cpu="2")
    others = [store.add(job(20 + i, cpu="1")) for i in range(3)]
    assert place(placement(store)) == 3
    assert states(store, *others) == ["dispatched"] * 3
    assert states(store, *members) == ["pending"] * 3


class CancellingStore(FakeStore):
    """Rolls a failed `update_jobs` back, as the SQL store's transaction does; cancels one
    member right after placement read the gang (as a user's DELETE meanwhile would)."""

    victim: str | None = None

    def due_jobs(self, *args: Any, **kwargs: Any) -> list[JobRecord]:
        found = super().due_jobs(*args, **kwargs)
        if self.victim is not None:
            cancelled = msgspec.structs.replace(self.jobs[self.victim], state=JobState.CANCELLED)
            self.jobs[self.victim], self.victim = cancelled, None
        return found

    def update_jobs(self, updates: Any) -> Any:
        before = dict(self.jobs)
        try:
            return super().update_jobs(updates)
        except Exception:
            self.jobs = before
            raise


def test_a_member_cancelled_between_read_and_write_rolls_the_whole_gang_back() -> None:
    store = CancellingStore([cluster("c1")])
    members = gang(store, "g1", 3)
    store.victim = members[2].id
    p = placement(store)
    assert place(p) == 0
    assert states(store, *members) == ["pending", "pending", "cancelled"]
    assert place(p) == 0  # two of three are due from now on: they wait for it
    assert why(store, members[0])[0] == "WaitingForGang"
