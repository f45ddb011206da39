"""The SDK's logs: the text alone, and apart from it the server's note saying why there is
none (`Logs.note`), from `logs` and `follow_logs`, sync and async."""

from __future__ import annotations

from kjs.client import AsyncClient, Client, Logs
from tests.client.conftest import job
from tests.live import LiveServer

CANCELLED = "no logs: the job was cancelled before it started"


def test_logs_and_follow_logs_give_the_note_apart(kjs: Client, tag: str) -> None:
    pending = kjs.submit(job("quiet", tag))  # no cluster: it stays pending
    logs = kjs.logs(pending.id)
    assert isinstance(logs, Logs) and logs == ""
    assert logs.note == "no logs yet: the job has not started (it is pending)"
    kjs.cancel(pending.id)
    followed = list(kjs.follow_logs(pending.id))
    assert "".join(followed) == ""
    assert [chunk.note for chunk in followed] == [CANCELLED]


async def test_the_async_client_too(server: LiveServer, tag: str) -> None:
    async with AsyncClient(server.url) as kjs:
        submitted = await kjs.submit(job("quiet", tag))
        await kjs.cancel(submitted.id)
        logs = await kjs.logs(submitted.id)
        assert (logs, logs.note) == ("", CANCELLED)
        followed = [chunk async for chunk in kjs.follow_logs(submitted.id)]
        assert [(str(c), c.note) for c in followed] == [("", CANCELLED)]
