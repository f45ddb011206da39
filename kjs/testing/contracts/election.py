"""The election contract (`kjs.core.protocols.Election`): what every leader election must do.

At most one contender leads at any moment; when the leader closes (SIGTERM) or can no longer
renew, another takes over; each new leader's fencing token is larger than every earlier one's,
and a contender that does not lead reports 0.

Needs a fixture `election_factory`: a callable returning a new, unstarted election that
contends with every other one it returned in the same test (one leadership: the same lease,
store or cluster), with a time to live of a few seconds at most: the suite waits `WAIT_S`
seconds for a takeover. The suite starts and closes the elections (a leader it made step down
is closed again at the end: closing twice must be harmless); clean up what they share in your
fixture.

Optionally a fixture `election_cut_off`: a callable that cuts one election off from what it
renews through (as a network partition would) without telling it. Without it the test of a
leader that cannot renew is skipped. Then::

    from kjs.testing.contracts.election import *  # noqa: F403
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from kjs.core.protocols import Election

WAIT_S = 15.0
ElectionFactory = Callable[[], Election]


@contextlib.asynccontextmanager
async def started(factory: ElectionFactory, count: int) -> AsyncIterator[list[Election]]:
    """`count` elections from `factory`, started, watched all along so that two leading at
    the same moment fails the test; closed afterwards, whatever happened."""
    elections = [factory() for _ in range(count)]
    overlaps: list[str] = []

    async def watch() -> None:
        while True:
            leading = [i for i, e in enumerate(elections) if e.is_leader]
            if len(leading) > 1:
                overlaps.append(f"contenders {leading} led at once")
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        for election in elections:
            await election.start()
        yield elections
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        for election in elections:
            await election.close()
    assert not overlaps, overlaps[:3]


async def leader_of(elections: Sequence[Election]) -> Election:
    """The one that leads, once one does (within WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        leading = leaders(elections)
        if leading:
            return leading[0]
        assert time.monotonic() < deadline, f"no leader within {WAIT_S:g} s"
        await asyncio.sleep(0.02)


def leaders(elections: Sequence[Election]) -> list[Election]:
    """Those that lead now; never more than one."""
    leading = [e for e in elections if e.is_leader]
    assert len(leading) <= 1, f"{len(leading)} leaders at once"
    return leading


@pytest.mark.asyncio
async def test_one_leader_among_contenders(election_factory: ElectionFactory) -> None:
    async with started(election_factory, 3) as elections:
        leader = await leader_of(elections)
        await asyncio.wait_for(leader.wait_leader(), 1)  # returns at once for the leader
        until = time.monotonic() + 1.0
        while time.monotonic() < until:  # and it stays the only one
            assert leaders(elections) == [leader]
            assert leader.fencing_token > 0
            assert [e.fencing_token for e in elections if e is not leader] == [0, 0]
            await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_one_leader_and_a_quick_takeover_when_it_steps_down(
    election_factory: ElectionFactory,
) -> None:
    async with started(election_factory, 2) as elections:
        leader = await leader_of(elections)
        (other,) = (e for e in elections if e is not leader)
        token = leader.fencing_token
        await leader.close()  # SIGTERM: gives up at once
        assert not leader.is_leader and leader.fencing_token == 0
        await asyncio.wait_for(other.wait_leader(), WAIT_S)
        assert leaders(elections) == [other] and other.fencing_token > token


@pytest.mark.asyncio
async def test_fencing_tokens_grow_with_each_new_leader(
    election_factory: ElectionFactory,
) -> None:
    async with started(election_factory, 3) as elections:
        tokens = []
        remaining = list(elections)
        while remaining:
            leader = await leader_of(remaining)
            tokens.append(leader.fencing_token)
            await leader.close()
            remaining.remove(leader)
        assert tokens == sorted(set(tokens)) and tokens[0] > 0, tokens


@pytest.mark.asyncio
async def test_a_leader_that_cannot_renew_stops_leading_when_its_lease_ends(
    election_factory: ElectionFactory, request: pytest.FixtureRequest
) -> None:
    try:
        cut_off: Callable[[Election], None] = request.getfixturevalue("election_cut_off")
    except pytest.FixtureLookupError:
        pytest.skip("no `election_cut_off` fixture: cannot cut a leader off")
    async with started(election_factory, 2) as elections:
        leader = await leader_of(elections)
        (other,) = (e for e in elections if e is not leader)
        token = leader.fencing_token
        cut_off(leader)
        await asyncio.wait_for(leader.wait_lost(), WAIT_S)
        assert not leader.is_leader and leader.fencing_token == 0
        # The other takes over (never while the old one still leads: `started` watches).
        assert await leader_of(elections) is other
        assert other.fencing_token > token


# The suite itself: what `from kjs.testing.contracts.election import *` brings into a module.
__all__ = [name for name in list(globals()) if name.startswith("test_")]
