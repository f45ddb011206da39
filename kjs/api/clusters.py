"""`/api/v1/clusters`: the clusters known from their agents' heartbeats; cordon and uncordon."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath

from kjs.api.policy import EVERY_NAMESPACE, Action, access, guard
from kjs.core.components import Components
from kjs.core.records import ClusterRecord
from kjs.core.service import NotFound


def cluster_json(components: Components, cluster: ClusterRecord, in_flight: int) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(cluster)
    out["state"] = components.cluster_state(cluster, dt.datetime.now(dt.UTC))
    used = cluster.running + cluster.pending + in_flight
    out["load"] = round(used / cluster.capacity, 4) if cluster.capacity else None
    out["dispatched"] = in_flight
    return out


class ClustersController(Controller):
    path = "/api/v1/clusters"
    tags = ("clusters",)

    @staticmethod
    async def _in_flight(components: Components) -> dict[str, int]:
        from kjs.core.states import JobState

        return await asyncio.to_thread(components.store.count_jobs_by_cluster, JobState.DISPATCHED)

    @get("/", guards=[guard(Action.READ)], summary="All clusters")
    async def list_clusters(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        access(request).check(Action.READ, EVERY_NAMESPACE)
        c: Components = request.app.state.components
        clusters = await asyncio.to_thread(c.store.list_clusters)
        in_flight = await self._in_flight(c)
        return {"items": [cluster_json(c, x, in_flight.get(x.id, 0)) for x in clusters]}

    @get("/{cluster_id:str}", guards=[guard(Action.READ)], summary="One cluster")
    async def get_cluster(
        self, request: Request[Any, Any, Any], cluster_id: FromPath[str]
    ) -> dict[str, Any]:
        access(request).check(Action.READ, EVERY_NAMESPACE)
        c: Components = request.app.state.components
        cluster = await asyncio.to_thread(c.store.get_cluster, cluster_id)
        if cluster is None:
            raise NotFound(f"cluster {cluster_id} not found")
        return cluster_json(c, cluster, (await self._in_flight(c)).get(cluster_id, 0))

    async def _cordon(
        self, request: Request[Any, Any, Any], cluster_id: str, on: bool
    ) -> dict[str, Any]:
        # Every namespace's work moves: not for a principal limited to namespaces.
        access(request).check(Action.OPERATE, EVERY_NAMESPACE)
        c: Components = request.app.state.components
        cluster = await asyncio.to_thread(c.store.set_cordoned, cluster_id, on)
        if cluster is None:
            raise NotFound(f"cluster {cluster_id} not found")
        request.app.state.dispatcher.wake()
        return cluster_json(c, cluster, (await self._in_flight(c)).get(cluster_id, 0))

    @post(
        "/{cluster_id:str}/cordon",
        guards=[guard(Action.OPERATE)],
        status_code=200,
        summary="Take no new work on this cluster",
    )
    async def cordon(
        self, request: Request[Any, Any, Any], cluster_id: FromPath[str]
    ) -> dict[str, Any]:
        return await self._cordon(request, cluster_id, True)

    @post(
        "/{cluster_id:str}/uncordon",
        guards=[guard(Action.OPERATE)],
        status_code=200,
        summary="Take new work again",
    )
    async def uncordon(
        self, request: Request[Any, Any, Any], cluster_id: FromPath[str]
    ) -> dict[str, Any]:
        return await self._cordon(request, cluster_id, False)
