"""`election = "lease"`: an agent's leader election with a `coordination.k8s.io/v1` Lease.

Written here rather than taken from `kubernetes.aio.leaderelection`, which cannot release its
lease on shutdown (a successor would wait out the whole lease) and counts in whole seconds.
Writes are optimistic (the Lease's resourceVersion): of two candidates racing, one gets 409.
A leader that cannot renew before its own deadline stops leading at once; on close it clears
`holderIdentity`, so a successor takes over on its next try instead of after expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from typing import Any

from kjs.core import aio
from kjs.core.backends import Backend, BuildContext
from kjs.core.hookspecs import hookimpl
from kjs.core.leadership import Leadership

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LeaseElection:
    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str,
        name: str,
        lease_s: float = 15.0,
        retry_s: float = 0.5,
        identity: str | None = None,
    ) -> None:
        self.api_client = api_client
        self.namespace, self.name = namespace, name
        self.lease_s, self.retry_s = lease_s, retry_s
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._leadership = Leadership()
        self._transitions = 0
        self._task: asyncio.Task[None] | None = None
        self._observed: tuple[str | None, str | None, float] = (None, None, 0.0)

    @property
    def _leases(self) -> Any:
        from kubernetes.aio import client

        return client.CoordinationV1Api(self.api_client)

    @property
    def is_leader(self) -> bool:
        return self._leadership.leading

    @property
    def fencing_token(self) -> int:
        return self._transitions if self.is_leader else 0

    async def start(self) -> None:
        await self._try_once()
        self._task = asyncio.create_task(self._run(), name="election_lease")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.retry_s)
            await self._try_once()

    def _body(
        self, resource_version: str | None, transitions: int, acquired: dt.datetime
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_s),
                "acquireTime": acquired,
                "renewTime": _now(),
                "leaseTransitions": transitions,
            },
        }

    async def _try_once(self) -> None:
        from kubernetes.aio.client.exceptions import ApiException

        asked = time.monotonic()
        try:
            held = await self._acquire_or_renew()
        except ApiException as e:
            if e.status != 409:  # 409: another candidate wrote first, it holds the lease
                hint = (
                    " (does the namespace exist? it is `agent.lease_namespace`)"
                    if e.status == 404
                    else ""
                )
                log.warning(
                    "lease %s/%s: %s %s%s", self.namespace, self.name, e.status, e.reason, hint
                )
                return
            held = False
        except Exception as e:  # the API is unreachable: lead on only until our lease ends
            log.warning("lease %s/%s not renewed: %s", self.namespace, self.name, e)
            return
        if held:
            if self._leadership.renewed(asked, self.lease_s):
                log.info("leader of %s/%s as %s", self.namespace, self.name, self.identity)
        elif self._leadership.refused():
            log.warning("lost the lease %s/%s", self.namespace, self.name)

    async def _acquire_or_renew(self) -> bool:
        from kubernetes.aio.client.exceptions import ApiException

        try:
            lease = await self._leases.read_namespaced_lease(self.name, self.namespace)
        except ApiException as e:
            if e.status != 404:
                raise
            await self._leases.create_namespaced_lease(self.namespace, self._body(None, 0, _now()))
            return True
        spec = lease.spec
        holder = spec.holder_identity if spec else None
        version = lease.metadata.resource_version
        if holder == self.identity:
            body = self._body(version, spec.lease_transitions or 0, spec.acquire_time or _now())
            await self._leases.replace_namespaced_lease(self.name, self.namespace, body)
            return True
        # Someone else's (or nobody's): expired by our own clock since we last saw it change?
        renew = str(spec.renew_time) if spec else None
        if self._observed[:2] != (holder, renew):
            self._observed = (holder, renew, time.monotonic())
        duration = float(spec.lease_duration_seconds or self.lease_s) if spec else self.lease_s
        if holder and time.monotonic() - self._observed[2] < duration:
            return False
        transitions = (spec.lease_transitions or 0) + 1 if spec else 1
        await self._leases.replace_namespaced_lease(
            self.name, self.namespace, self._body(version, transitions, _now())
        )
        self._transitions = transitions
        return True

    async def wait_leader(self) -> None:
        await self._leadership.wait_leading()

    async def wait_lost(self) -> None:
        """Returns once leadership is lost (for stopping leader-only work at once)."""
        await self._leadership.wait_lost()

    async def close(self) -> None:
        from kubernetes.aio.client.exceptions import ApiException

        if self._task is not None:
            await aio.stop_tasks([self._task])
        if self.is_leader:
            with contextlib.suppress(ApiException, OSError):
                lease = await self._leases.read_namespaced_lease(self.name, self.namespace)
                if lease.spec and lease.spec.holder_identity == self.identity:
                    body = self._body(
                        lease.metadata.resource_version, lease.spec.lease_transitions or 0, _now()
                    )
                    body["spec"]["holderIdentity"] = None
                    await self._leases.replace_namespaced_lease(self.name, self.namespace, body)
                    log.info("released the lease %s/%s", self.namespace, self.name)
        self._leadership.refused()


def _make(context: BuildContext) -> LeaseElection:
    if context.kube is None or context.cluster_id is None:
        raise RuntimeError("election = 'lease' is for agents (it needs their Kubernetes client)")
    return LeaseElection(
        context.kube,
        namespace=context.settings.agent.lease_namespace,
        name=f"kjs-agent-{context.cluster_id}",
        lease_s=context.settings.agent.lease_s,
    )


@hookimpl
def register_elections() -> list[Backend]:
    return [Backend("election", "lease", _make, "agent leader through a Kubernetes Lease")]
