"""`/api/v1/clusters`: the clusters known from their agents' heartbeats; cordon and uncordon."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath

from kjs.api.policy import EVERY_NAMESPACE, Action, access
from kjs.api.schema import Cluster, ClusterList, ClusterResources, protected
from kjs.core.components import Components
from kjs.core.errors import NotFound
from kjs.core.records import ClusterRecord


def cluster_view(components: Components, cluster: ClusterRecord, in_flight: int) -> Cluster:
    fields = msgspec.structs.asdict(cluster)
    fields["state"] = components.cluster_state(cluster, dt.datetime.now(dt.UTC))
    used = cluster.running + cluster.pending + in_flight
    fields["load"] = round(used / cluster.capacity, 4) if cluster.capacity else None
    fields["dispatched"] = in_flight
    if cluster.resources is not None:
        fields["resources"] = msgspec.convert(
            cluster.resources, ClusterResources, from_attributes=True
        )
    return Cluster(**fields)


class ClustersController(Controller):
    path = "/api/v1/clusters"
    tags = ("clusters",)

    @staticmethod
    async def _in_flight(components: Components) -> dict[str, int]:
        from kjs.core.states import JobState

        return await asyncio.to_thread(components.store.count_jobs_by_cluster, JobState.DISPATCHED)

    @get("/", **protected(Action.READ), summary="All clusters")
    async def list_clusters(self, request: Request[Any, Any, Any]) -> ClusterList:
        access(request).check(Action.READ, EVERY_NAMESPACE)
        c: Components = request.app.state.components
        clusters = await asyncio.to_thread(c.store.list_clusters)
        in_flight = await self._in_flight(c)
        return ClusterList(items=[cluster_view(c, x, in_flight.get(x.id, 0)) for x in clusters])

    @get("/{cluster_id:str}", **protected(Action.READ, 400, 404), summary="One cluster")
    async def get_cluster(
        self, request: Request[Any, Any, Any], cluster_id: FromPath[str]
    ) -> Cluster:
        access(request).check(Action.READ, EVERY_NAMESPACE)
        c: Components = request.app.state.components
        cluster = await asyncio.to_thread(c.store.get_cluster, cluster_id)
        if cluster is None:
            raise NotFound(f"cluster {cluster_id} not found")
        return cluster_view(c, cluster, (await self._in_flight(c)).get(cluster_id, 0))

    async def _cordon(self, request: Request[Any, Any, Any], cluster_id: str, on: bool) -> Cluster:
        # Every namespace's work moves: not for a principal limited to namespaces.
        access(request).check(Action.OPERATE, EVERY_NAMESPACE)
        c: Components = request.app.state.components
        cluster = await asyncio.to_thread(c.store.set_cordoned, cluster_id, on)
        if cluster is None:
            raise NotFound(f"cluster {cluster_id} not found")
        request.app.state.dispatcher.wake()
        return cluster_view(c, cluster, (await self._in_flight(c)).get(cluster_id, 0))

    @post(
        "/{cluster_id:str}/cordon",
        **protected(Action.OPERATE, 400, 404),
        status_code=200,
        summary="Take no new work on this cluster",
    )
    async def cordon(self, request: Request[Any, Any, Any], cluster_id: FromPath[str]) -> Cluster:
        return await self._cordon(request, cluster_id, True)

    @post(
        "/{cluster_id:str}/uncordon",
        **protected(Action.OPERATE, 400, 404),
        status_code=200,
        summary="Take new work again",
    )
    async def uncordon(self, request: Request[Any, Any, Any], cluster_id: FromPath[str]) -> Cluster:
        return await self._cordon(request, cluster_id, False)
