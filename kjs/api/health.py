"""`/healthz` (the process is alive) and `/readyz` (store and queue reachable); always open."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get

from kjs.api.errors import problem
from kjs.api.schema import Health, Ready, answer, problems
from kjs.core.components import Components


@get("/healthz", sync_to_thread=False, tags=["health"], summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    tags=["health"],
    summary="The store and the queue are reachable",
    responses={200: answer(Ready, "Ready to serve."), **problems(503)},
)
async def readyz(request: Request[Any, Any, Any]) -> Response[Any]:
    c: Components = request.app.state.components
    try:
        await asyncio.wait_for(asyncio.to_thread(c.store.ping), 5)
    except Exception as e:
        return problem(503, f"{request.app.state.store_description} unavailable: {e}")
    try:
        await asyncio.wait_for(c.queue.ping(), 5)
    except Exception as e:
        return problem(503, f"queue unavailable: {e}")
    return Response(Ready(status="ready", leader=c.election.is_leader))
