"""The `LogSink` contract (`kjs.core.protocols.LogSink`) as pytest tests, for every log sink.

A sink's test module subclasses `LogSinkContract` and gives it a `log_sink` fixture that yields
an empty sink (parametrise it to run the suite over several)::

    import pytest
    from kjs.testing.contracts.log_sink import LogSinkContract

    class TestMySink(LogSinkContract):
        @pytest.fixture
        def log_sink(self):
            return MySink()

The tests are coroutines (pytest-asyncio). What they pin down: chunks are keyed by seq, so
writing one again changes nothing; a longer version of a chunk replaces a shorter one, never the
reverse; reads come in order and `after` skips what a follower has; truncation marks; the chunk
counts a final state waits for; and retention's delete.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from kjs.core.protocols import LogSink
from kjs.testing.waiting import wait_until


def _job() -> str:
    return str(uuid.uuid4())


def _tick() -> dt.datetime:
    """An instant strictly after everything done so far, and strictly before what follows."""
    start = dt.datetime.now(dt.UTC)
    wait_until(lambda: dt.datetime.now(dt.UTC) > start, timeout=1, what="clock", interval=0.001)
    cut = dt.datetime.now(dt.UTC)
    wait_until(lambda: dt.datetime.now(dt.UTC) > cut, timeout=1, what="clock", interval=0.001)
    return cut


@pytest.mark.asyncio
class LogSinkContract:
    """The tests; subclasses provide the `log_sink` fixture (an empty sink)."""

    @pytest.fixture
    def log_sink(self) -> LogSink:
        raise NotImplementedError("a LogSinkContract subclass gives the log_sink fixture")

    async def test_a_chunk_sent_again_changes_nothing(self, log_sink: LogSink) -> None:
        job = _job()
        assert await log_sink.append(job, 1, "pod-a", "main", 0, b"first\n", False)
        assert not await log_sink.append(job, 1, "pod-a", "main", 0, b"first\n", False)
        assert not await log_sink.append(job, 1, "pod-a", "main", 0, b"first\n", False)
        assert await log_sink.read(job) == [("pod-a", "main", 0, b"first\n")]
        assert await log_sink.chunk_counts(job, 1) == {("pod-a", "main"): (1, 6)}

    async def test_a_longer_chunk_replaces_a_shorter_one_never_the_reverse(
        self, log_sink: LogSink
    ) -> None:
        job = _job()
        assert await log_sink.append(job, 1, "p", "c", 0, b"line 1\n", False)  # streamed early
        assert await log_sink.append(job, 1, "p", "c", 0, b"line 1\nline 2\n", False)  # grew
        assert not await log_sink.append(job, 1, "p", "c", 0, b"line 1\n", False)  # late copy
        assert await log_sink.read(job) == [("p", "c", 0, b"line 1\nline 2\n")]
        assert await log_sink.chunk_counts(job, 1) == {("p", "c"): (1, 14)}

    async def test_reads_come_in_order_filtered_and_after_what_a_follower_has(
        self, log_sink: LogSink
    ) -> None:
        job, other = _job(), _job()
        # Out of order, as a queue may deliver them.
        for attempt, pod, container, seq in [
            (1, "pod-b", "main", 0),
            (1, "pod-a", "main", 2),
            (2, "pod-a", "main", 0),
            (1, "pod-a", "main", 0),
            (1, "pod-a", "side", 0),
            (1, "pod-a", "main", 1),
        ]:
            data = f"{attempt} {pod} {container} {seq}\n".encode()
            assert await log_sink.append(job, attempt, pod, container, seq, data, False)
        assert await log_sink.append(other, 1, "pod-a", "main", 0, b"another job\n", False)

        def keys(rows: list[tuple[str, str, int, bytes]]) -> list[tuple[str, str, int]]:
            return [(pod, container, seq) for pod, container, seq, _ in rows]

        first = await log_sink.read(job, attempt=1)
        assert keys(first) == [
            ("pod-a", "main", 0),
            ("pod-a", "main", 1),
            ("pod-a", "main", 2),
            ("pod-a", "side", 0),
            ("pod-b", "main", 0),
        ]
        assert first[1][3] == b"1 pod-a main 1\n"
        assert keys(await log_sink.read(job)) == [
            *keys(first),
            ("pod-a", "main", 0),  # attempt 2 follows attempt 1
        ]
        assert keys(await log_sink.read(job, attempt=1, pod="pod-a", container="side")) == [
            ("pod-a", "side", 0)
        ]
        assert keys(await log_sink.read(job, attempt=1, container="main")) == [
            ("pod-a", "main", 0),
            ("pod-a", "main", 1),
            ("pod-a", "main", 2),
            ("pod-b", "main", 0),
        ]
        # A follower that has pod-a/main up to seq 1 and pod-b/main's seq 0.
        after = {("pod-a", "main"): 1, ("pod-b", "main"): 0}
        assert keys(await log_sink.read(job, attempt=1, after=after)) == [
            ("pod-a", "main", 2),
            ("pod-a", "side", 0),
        ]
        assert await log_sink.read(_job()) == []

    async def test_a_truncation_mark_belongs_to_its_container_and_attempt(
        self, log_sink: LogSink
    ) -> None:
        job = _job()
        assert await log_sink.append(job, 1, "p", "c", 0, b"x" * 10, False)  # streamed early
        assert await log_sink.append(job, 1, "p", "d", 0, b"y" * 10, False)
        assert await log_sink.truncated(job, 1) == set()
        assert await log_sink.append(job, 1, "p", "c", 0, b"x" * 10, True)  # the final read: cut
        assert not await log_sink.append(job, 1, "p", "c", 0, b"x" * 10, True)  # again
        assert await log_sink.truncated(job, 1) == {("p", "c")}
        assert await log_sink.truncated(job, 2) == set()
        assert await log_sink.read(job, container="c") == [("p", "c", 0, b"x" * 10)]
        assert await log_sink.append(job, 1, "p", "c", 0, b"x" * 12, False)  # longer, unmarked
        assert await log_sink.truncated(job, 1) == {("p", "c")}  # the mark stays

    async def test_chunk_counts_are_per_container_of_one_attempt(self, log_sink: LogSink) -> None:
        job = _job()
        assert await log_sink.chunk_counts(job, 1) == {}
        for seq, data in enumerate([b"a" * 5, b"b" * 7, b"c"]):
            assert await log_sink.append(job, 1, "p", "main", seq, data, False)
        assert await log_sink.append(job, 1, "p", "side", 0, b"side\n", False)
        assert await log_sink.append(job, 2, "p", "main", 0, b"next attempt\n", False)
        assert await log_sink.append(job, 1, "p", "main", 2, b"cc", False)  # grew
        assert await log_sink.chunk_counts(job, 1) == {
            ("p", "main"): (3, 14),
            ("p", "side"): (1, 5),
        }
        assert await log_sink.chunk_counts(job, 2) == {("p", "main"): (1, 13)}

    async def test_delete_older_than_drops_the_chunks_kept_before_then(
        self, log_sink: LogSink
    ) -> None:
        old, recent = _job(), _job()
        assert await log_sink.append(old, 1, "p", "c", 0, b"old\n", False)
        assert await log_sink.append(old, 1, "p", "c", 1, b"old too\n", False)
        assert await log_sink.append(recent, 1, "p", "c", 0, b"early\n", False)
        cut = _tick()
        assert await log_sink.append(recent, 1, "p", "c", 1, b"late\n", False)
        # A longer version of an old chunk is still as old as the chunk it replaces.
        assert await log_sink.append(old, 1, "p", "c", 1, b"old too, longer\n", False)

        assert await log_sink.delete_older_than(cut - dt.timedelta(days=1)) == 0
        assert await log_sink.delete_older_than(cut) == 3
        assert await log_sink.delete_older_than(cut) == 0  # nothing left that old
        assert await log_sink.read(old) == []
        assert await log_sink.chunk_counts(old, 1) == {}
        assert await log_sink.read(recent) == [("p", "c", 1, b"late\n")]
        assert await log_sink.chunk_counts(recent, 1) == {("p", "c"): (1, 5)}

    async def test_a_deleted_chunk_can_be_kept_again(self, log_sink: LogSink) -> None:
        job = _job()
        assert await log_sink.append(job, 1, "p", "c", 0, b"x", True)
        assert await log_sink.delete_older_than(_tick()) == 1
        assert await log_sink.truncated(job, 1) == set()
        assert await log_sink.append(job, 1, "p", "c", 0, b"x", False)  # resent after all
        assert await log_sink.read(job) == [("p", "c", 0, b"x")]
