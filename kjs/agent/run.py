"""Starting an agent: `kjs agent` (its own process) and the agent half of `kjs up`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from kjs.agent import kube
from kjs.agent.agent import Agent
from kjs.agent.spool import SpoolingQueue
from kjs.core.backends import BuildContext
from kjs.core.config import ConfigError, Settings
from kjs.core.logconfig import bound
from kjs.core.plugins import Plugins
from kjs.core.protocols import Queue

log = logging.getLogger(__name__)


class PreflightError(RuntimeError):
    """The cluster cannot be used: unreachable, or these credentials cannot create Jobs."""


async def preflight(api: Any, namespaces: list[str]) -> str:
    """Check the API answers and Jobs may be created; returns the server's version."""
    from kubernetes.aio import client

    try:
        version = await client.VersionApi(api).get_code()
    except Exception as e:
        host = getattr(api.configuration, "host", "?")
        raise PreflightError(f"Kubernetes API at {host} unreachable: {kube.api_error(e)[2]}") from e
    for namespace in namespaces or [""]:
        question: Any = {
            "spec": {
                "resourceAttributes": {
                    "group": "batch",
                    "resource": "jobs",
                    "verb": "create",
                    "namespace": namespace,
                }
            }
        }
        review = await client.AuthorizationV1Api(api).create_self_subject_access_review(question)
        if review.status is None or not review.status.allowed:
            where = f"namespace {namespace}" if namespace else "all namespaces"
            raise PreflightError(f"these credentials cannot create Jobs in {where}")
    return str(version.git_version)


async def check_cluster(kubeconfig: str | None, context: str | None, namespaces: list[str]) -> str:
    """`preflight` with a client of its own (for commands that check before they start)."""
    try:
        api = await kube.api_client(kubeconfig, context)
    except Exception as e:
        raise PreflightError(f"no usable Kubernetes configuration: {e}") from e
    try:
        return await preflight(api, namespaces)
    finally:
        await api.close()


@contextlib.asynccontextmanager
async def running_agent(
    settings: Settings,
    cluster_id: str,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    queue: Queue | None = None,
    plugins: Plugins | None = None,
    check: bool = False,
) -> AsyncIterator[Agent]:
    """An agent started for `cluster_id`, stopped (lease released) on exit."""
    if plugins is None:  # given (`kjs up`): the server's, configured when it was built
        plugins = Plugins()
        plugins.configure(settings)
    api = await kube.api_client(kubeconfig, context)
    try:
        if check:
            await preflight(api, list(settings.agent.namespaces))
        build = BuildContext(settings, kube=api, cluster_id=cluster_id)
        agent_queue: Queue
        if queue is not None:  # `kjs up`: the server's own in-process queue
            agent_queue = queue
        else:
            agent_queue = SpoolingQueue(
                plugins.backend("queue", settings.queue).factory(build),
                settings.data_path(f"spool-{cluster_id}.log"),
            )
        election = plugins.backend("election", settings.election).factory(build)
        agent = Agent(settings, cluster_id, api, agent_queue, election)
        # Every line of the agent's tasks (created by start) names its cluster.
        with bound(cluster=cluster_id):
            await agent.start()
        try:
            yield agent
        finally:
            with bound(cluster=cluster_id):
                await agent.stop()
    finally:
        await api.close()


def serve_agent(
    settings: Settings, cluster_id: str, kubeconfig: str | None, context: str | None
) -> None:
    """Run until SIGTERM/SIGINT: stop consuming, release the Lease, exit 0."""
    if settings.queue == "memory":
        raise ConfigError(
            "queue: a separate agent needs a shared queue (nsq); "
            "use `kjs up` for server and agent in one process"
        )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with running_agent(settings, cluster_id, kubeconfig=kubeconfig, context=context):
            log.info("agent for cluster %s running", cluster_id)
            await stop.wait()
        log.info("agent for cluster %s stopped", cluster_id)

    asyncio.run(main())
