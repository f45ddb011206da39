"""`election = "single"`: one process, always the leader (embedded `kjs up`)."""

from __future__ import annotations

import asyncio

from kjs.core.backends import Backend
from kjs.core.hookspecs import hookimpl


class SingleElection:
    """The only process there is leads."""

    is_leader = True
    fencing_token = 1

    async def start(self) -> None:
        pass

    async def wait_leader(self) -> None:
        pass

    async def wait_lost(self) -> None:
        await asyncio.Event().wait()  # never

    async def close(self) -> None:
        pass


@hookimpl
def register_elections() -> list[Backend]:
    return [
        Backend(
            "election", "single", lambda _context: SingleElection(), "always leader (one process)"
        )
    ]
