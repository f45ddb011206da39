"""A real `kjs server` process on SQLite and the real NSQ: SIGKILL and SIGTERM lose nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kjs.core import messages
from kjs.core.config import NsqSettings
from kjs.plugins.queue_nsq import NsqQueue
from tests.deployment import fresh_database
from tests.processes import Server, nsq_environment

pytestmark = pytest.mark.nsq
JOB = {"name": "hello", "namespace": "ops", "image": "busybox"}


@pytest.fixture
def nsq_settings(nsq_env: dict[str, list[dict[str, str]]]) -> NsqSettings:
    return NsqSettings(
        nsqd_tcp=[n["tcp"] for n in nsq_env["nsqd"]],
        nsqd_http=[n["http"] for n in nsq_env["nsqd"]],
        lookupd_http=[lk["http"] for lk in nsq_env["lookupd"]],
    )


@pytest.fixture
def cluster_id() -> str:
    """A cluster id of this test's own: nsqd keeps topics between tests."""
    return f"crash-{os.urandom(3).hex()}"


@pytest.fixture
def server(tmp_path: Path, nsq_env: dict[str, list[dict[str, str]]]) -> Iterator[Server]:
    env = {**nsq_environment(nsq_env), "KJS_DISPATCH__ACK_TIMEOUT_S": "4"}
    s = Server(tmp_path / "data", env)
    s.start()
    yield s
    s.stop()


class Agent:
    """Listens on a cluster's dispatch topic through NSQ, as an agent would."""

    def __init__(self, queue: NsqQueue, cluster_id: str) -> None:
        self.queue, self.cluster_id = queue, cluster_id
        self.dispatches: list[messages.Dispatch] = []

    async def start(self) -> None:
        await self.queue.start()
        await self.queue.subscribe(messages.dispatch_topic(self.cluster_id), "agent", self._got)

    async def _got(self, delivery: Any) -> bool:
        message = messages.decode(delivery.body)
        assert isinstance(message, messages.Dispatch)
        self.dispatches.append(message)
        return True

    async def heartbeat(self) -> None:
        await self.queue.publish(
            messages.HEARTBEAT_TOPIC,
            messages.encode(
                messages.Heartbeat(
                    cluster_id=self.cluster_id, at=dt.datetime.now(dt.UTC), capacity=100
                )
            ),
        )

    async def created(self, job_id: str) -> None:
        await self.queue.publish(
            messages.STATUS_TOPIC,
            messages.encode(
                messages.StatusEvent(
                    cluster_id=self.cluster_id,
                    job_id=job_id,
                    attempt=1,
                    state="created",
                    at=dt.datetime.now(dt.UTC),
                )
            ),
        )


@pytest.fixture
async def agent(nsq_settings: NsqSettings, cluster_id: str) -> AsyncIterator[Agent]:
    a = Agent(NsqQueue(nsq_settings, lookupd_poll_s=1), cluster_id)
    await a.start()
    yield a
    await a.queue.close()


async def until(probe: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = (
            await asyncio.to_thread(probe)
            if not asyncio.iscoroutinefunction(probe)
            else await probe()
        )
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def registered(server: Server, agent: Agent) -> None:
    await agent.heartbeat()
    await until(
        lambda: server.api("GET", f"/clusters/{agent.cluster_id}").status_code == 200,
        20,
        "the heartbeat to register the cluster",
    )


async def test_jobs_accepted_before_a_sigkill_are_there_and_dispatched_after_restart(
    server: Server,
    agent: Agent,
) -> None:
    await registered(server, agent)
    assert server.api("POST", f"/clusters/{agent.cluster_id}/cordon").status_code == 200
    accepted = []
    for i in range(20):
        response = server.api("POST", "/jobs", json={**JOB, "name": f"job-{i}"})
        assert response.status_code == 201
        accepted.append(response.json()["id"])
    assert server.kill() == -signal.SIGKILL  # right after the last 201
    server.start()
    for job_id in accepted:
        assert server.api("GET", f"/jobs/{job_id}").json()["state"] == "pending"
    assert server.api("POST", f"/clusters/{agent.cluster_id}/uncordon").status_code == 200
    await until(
        lambda: {d.job_id for d in agent.dispatches} >= set(accepted),
        30,
        "every accepted job's dispatch on the queue",
    )
    for job_id in accepted:
        job = server.api("GET", f"/jobs/{job_id}").json()
        assert job["state"] == "dispatched" and job["cluster_id"] == agent.cluster_id


async def test_a_dispatch_killed_before_its_ack_is_published_again_once(
    server: Server,
    agent: Agent,
) -> None:
    await registered(server, agent)
    job_id = server.api("POST", "/jobs", json=JOB).json()["id"]
    await until(lambda: agent.dispatches, 20, "the first publication")
    first_seen = time.monotonic()
    server.kill()
    server.start()
    # ack_timeout_s is 4: the restarted server publishes it again once that has passed.
    await until(lambda: len(agent.dispatches) >= 2, 20, "the dispatch published again")
    assert time.monotonic() - first_seen >= 3.5
    await agent.created(job_id)
    await until(
        lambda: server.api("GET", f"/jobs/{job_id}").json()["state"] == "created",
        20,
        "the acknowledgement",
    )
    # An acknowledged dispatch is not sent again: more than ack_timeout_s (4) and a sweep (2)
    # pass, and nothing comes (a negative: nothing to wait for but the time it would take).
    await asyncio.sleep(6.5)
    assert [d.job_id for d in agent.dispatches] == [job_id, job_id]


def test_sigterm_stops_cleanly_and_releases_the_leader_lease(server: Server) -> None:
    assert server.api("POST", "/jobs", json=JOB).status_code == 201
    assert server.kill(signal.SIGTERM) == 0
    db = sqlite3.connect(server.data_dir / "kjs.db")
    (holder,) = db.execute("SELECT holder FROM leases WHERE name = 'server-leader'").fetchone()
    assert holder is None
    assert "kjs server stopped" in server.log.read_text()


@pytest.mark.mysql
async def test_a_follower_wakes_the_leader_for_a_job_it_accepted(
    tmp_path: Path,
    nsq_env: dict[str, list[dict[str, str]]],
    mysql_env: dict[str, str],
    agent: Agent,
) -> None:
    with fresh_database(mysql_env["admin_url"]) as database:
        env = {
            **nsq_environment(nsq_env),
            "KJS_STORE": "mysql",
            "KJS_MYSQL__URL": database,
            "KJS_DISPATCH__SWEEP_S": "300",  # only a wake-up can bring the job out in time
        }
        replicas = [Server(tmp_path / "a", env), Server(tmp_path / "b", env)]
        try:
            for replica in replicas:
                replica.start()

            def leads(replica: Server) -> bool:
                return bool(httpx.get(f"{replica.url}/readyz").json()["leader"])

            await until(lambda: any(leads(r) for r in replicas), 20, "a leader")
            follower = next(r for r in replicas if not leads(r))
            await registered(follower, agent)
            job_id = follower.api("POST", "/jobs", json=JOB).json()["id"]
            await until(lambda: agent.dispatches, 30, "the leader to place the job")
            assert [d.job_id for d in agent.dispatches] == [job_id]
        finally:
            for replica in replicas:
                replica.stop()
