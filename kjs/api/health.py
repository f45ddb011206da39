"""`/healthz` (the process is alive) and `/readyz` (store and queue reachable); always open."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get

from kjs.api.errors import problem
from kjs.core.components import Components


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    c: Components = request.app.state.components
    try:
        await asyncio.wait_for(asyncio.to_thread(c.store.ping), 5)
    except Exception as e:
        return problem(503, f"{request.app.state.store_description} unavailable: {e}")
    try:
        await asyncio.wait_for(c.queue.ping(), 5)
    except Exception as e:
        return problem(503, f"queue unavailable: {e}")
    return Response({"status": "ready", "leader": c.election.is_leader})
