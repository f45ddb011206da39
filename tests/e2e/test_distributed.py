"""The production shape: server replicas on MariaDB, two nsqd behind nsqlookupd, an agent per
cluster on three clusters — placement by capacity, routes, a stopped agent, and chaos.

"Never runs twice" is checked where it happens: the test kubelet runs each container as a local
process, so every job appends its name to a file of the test's when it runs.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kjs.testing.pytest_plugin import Cluster, TestEnvironment
from kjs.testing.waiting import wait_until
from tests.deployment import Delivery, Deployment, WebhookReceiver, fresh_database

pytestmark = [pytest.mark.k8s, pytest.mark.nsq, pytest.mark.mysql, pytest.mark.slow]


@pytest.fixture
def clusters(k8s_clusters: list[Cluster]) -> list[Cluster]:
    if len(k8s_clusters) < 3:
        pytest.fail(
            "these tests need 3 test clusters: `kjs-testenv up --clusters 3`", pytrace=False
        )
    return k8s_clusters[:3]


@pytest.fixture
def deploy(
    clusters: list[Cluster],
    k8s_namespace: str,
    mysql_env: dict[str, str],
    nsq_env: dict[str, list[dict[str, str]]],
    tmp_path: Path,
) -> Iterator[Any]:
    """`deploy(settings)` -> a Deployment on a fresh database, stopped after the test."""
    started: list[Deployment] = []
    environment = {
        "nsq": nsq_env,
        "clusters": [{"id": c.id, "kubeconfig": c.kubeconfig} for c in clusters],
    }
    with fresh_database(mysql_env["admin_url"]) as database:

        def make(settings: dict[str, str] | None = None) -> Deployment:
            d = Deployment(environment, database, tmp_path, k8s_namespace, settings)
            started.append(d)
            return d

        yield make
        for d in started:
            d.stop()


class Runs:
    """The file each job appends its name to when its container runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def script(self, name: str, then: str = "true") -> list[str]:
        return ["sh", "-c", f"echo {name} >> {self.path}; {then}"]

    def counts(self) -> Counter[str]:
        return Counter(self.path.read_text().split())


def job(namespace: str, name: str, command: list[str], **fields: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "image": "busybox", "command": command, **fields}


def wait_clusters(d: Deployment, count: int) -> None:
    wait_until(
        lambda: (
            sum(c["state"] == "ready" for c in d.api("GET", "/clusters").json()["items"]) == count
        ),
        timeout=30,
        what=f"{count} clusters to report",
    )


def wait_final(d: Deployment, ids: list[str], timeout: float) -> list[dict[str, Any]]:
    finals = {"succeeded", "failed", "cancelled"}

    def all_final() -> list[dict[str, Any]] | None:
        jobs = d.jobs(ids)
        return jobs if all(j["state"] in finals for j in jobs) else None

    found: list[dict[str, Any]] = wait_until(
        all_final, timeout=timeout, interval=1.0, what=f"{len(ids)} jobs to finish"
    )
    return found


def succeeded_once(d: Deployment, job_id: str) -> bool:
    events = d.api("GET", f"/jobs/{job_id}/events").json()["items"]
    return [e["state"] for e in events].count("succeeded") == 1


def test_three_clusters_share_120_jobs_by_capacity_and_routes_are_kept(
    deploy: Any, clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    d: Deployment = deploy()
    replicas = [d.start_replica(), d.start_replica()]
    for cluster, capacity in zip(clusters, (1, 2, 3), strict=True):
        d.start_agent(cluster.id, capacity)
    wait_clusters(d, 3)
    runs = Runs(tmp_path / "ran.txt")

    unknown = d.api("POST", "/jobs", json=job(k8s_namespace, "x", ["true"], cluster="mars"))
    assert unknown.status_code == 400
    assert [e["field"] for e in unknown.json()["errors"]] == ["cluster"]

    ids = []
    for i in range(120):  # alternate replicas: any replica accepts, the leader places
        response = replicas[i % 2].api(
            "POST", "/jobs", json=job(k8s_namespace, f"s{i}", runs.script(f"s{i}", "sleep 2"))
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    jobs = wait_final(d, ids, timeout=300)
    assert {j["state"] for j in jobs} == {"succeeded"}
    assert all(j["attempt"] == 1 for j in jobs)  # never moved
    assert all(succeeded_once(d, j["id"]) for j in jobs)
    assert runs.counts() == Counter({f"s{i}": 1 for i in range(120)})
    share = Counter(j["cluster_id"] for j in jobs)
    print(f"shares of 120 jobs over capacities 1/2/3: {dict(sorted(share.items()))}")
    for cluster, capacity in zip(clusters, (1, 2, 3), strict=True):
        assert abs(share[cluster.id] / 120 - capacity / 6) <= 0.10, share

    # Routed: a named cluster, and a preference list whose first choice is full.
    first, second, third = (c.id for c in clusters)
    routed = [
        d.api("POST", "/jobs", json=job(k8s_namespace, f"r{i}", ["true"], cluster=route)).json()
        for i, route in enumerate([third, third, first, [second, third], [second, third]])
    ]
    placed = [j["cluster_id"] for j in wait_final(d, [j["id"] for j in routed], timeout=60)]
    assert placed[:3] == [third, third, first]
    assert set(placed[3:]) <= {second, third}


def test_a_stopped_agent_hands_its_work_on_and_its_running_jobs_end_truly(
    deploy: Any, clusters: list[Cluster], k8s_namespace: str, tmp_path: Path
) -> None:
    d: Deployment = deploy(
        {
            "KJS_DISPATCH__UNREACHABLE_AFTER_S": "4",
            "KJS_DISPATCH__LOST_AFTER_S": "8",
            "KJS_DISPATCH__ACK_TIMEOUT_S": "5",
            "KJS_AGENT__RESYNC_S": "5",
        }
    )
    d.start_replica()
    c1, c2, c3 = (c.id for c in clusters)
    agent = d.start_agent(c1, 4)
    d.start_agent(c2, 1)
    d.start_agent(c3, 2)
    wait_clusters(d, 3)
    runs = Runs(tmp_path / "ran.txt")

    def submit(name: str, then: str = "true", **fields: Any) -> str:
        r = d.api("POST", "/jobs", json=job(k8s_namespace, name, runs.script(name, then), **fields))
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    long_ids = [
        submit(f"long{i}", "sleep 15; echo finished", cluster=c1, log_collect="always")
        for i in range(2)
    ]
    wait_until(
        lambda: all(j["state"] == "running" for j in d.jobs(long_ids)),
        timeout=60,
        what="the long jobs to run on the first cluster",
    )
    assert agent.kill(signal.SIGTERM) == 0  # a graceful stop; the pods run on without it

    # The stopped cluster is the first choice and still looks alive: two land there, one on c2.
    stranded_ids = [submit(f"pref{i}", cluster=[c1, c2]) for i in range(3)]
    wait_until(
        lambda: Counter(j["cluster_id"] for j in d.jobs(stranded_ids)) == {c1: 2, c2: 1},
        timeout=10,
        what="two dispatches to the stopped cluster",
    )
    wait_until(
        lambda: d.api("GET", f"/clusters/{c1}").json()["state"] == "unreachable",
        timeout=15,
        what="the stopped cluster to be seen unreachable",
    )
    new_ids = [submit(f"new{i}") for i in range(6)]
    done = wait_final(d, stranded_ids + new_ids, timeout=120)
    assert {j["state"] for j in done} == {"succeeded"}
    assert {j["cluster_id"] for j in done} <= {c2, c3}
    assert sorted(j["attempt"] for j in done[:3]) == [1, 2, 2]  # the two stranded ones moved
    wait_until(
        lambda: {j["state"] for j in d.jobs(long_ids)} == {"lost"},
        timeout=30,
        what="the first cluster's running jobs to be lost",
    )

    d.start_agent(c1, 4)
    (finished, _) = wait_final(d, long_ids, timeout=90)
    assert {j["state"] for j in d.jobs(long_ids)} == {"succeeded"}  # their true final state
    assert d.api("GET", f"/jobs/{finished['id']}/logs").text.endswith("finished\n")
    # The late dispatches of the moved attempts reach the restarted agent, fenced: wait until
    # its queue is drained, then nothing of them may exist on its cluster.
    for nsqd in d.environment["nsq"]["nsqd"]:
        wait_until(
            lambda nsqd=nsqd: channel_empty(nsqd["http"], f"kjs.dispatch.{c1}", "agent"),
            timeout=30,
            what="the restarted agent to drain its dispatches",
        )
    k8s_jobs = clusters[0].batch.list_namespaced_job(k8s_namespace).items
    assert sorted(j.metadata.labels["kjs.io/job-name"] for j in k8s_jobs) == ["long0", "long1"]
    names = ["long0", "long1", "pref0", "pref1", "pref2", *(f"new{i}" for i in range(6))]
    assert runs.counts() == Counter({name: 1 for name in names})
    assert all(succeeded_once(d, job_id) for job_id in long_ids + stranded_ids)


def channel_empty(nsqd_http: str, topic: str, channel: str) -> bool:
    stats = httpx.get(f"http://{nsqd_http}/stats?format=json&topic={topic}", timeout=5).json()
    for t in stats.get("topics", []):
        for ch in t["channels"]:
            if ch["channel_name"] == channel and (ch["depth"] or ch["in_flight_count"]):
                return False
    return True


def test_300_jobs_through_crashes_of_nsqd_mariadb_and_a_replica_and_a_receiver_outage(
    deploy: Any,
    clusters: list[Cluster],
    k8s_namespace: str,
    testenv_session: TestEnvironment,
    tmp_path: Path,
) -> None:
    d: Deployment = deploy(
        {
            "KJS_DISPATCH__ACK_TIMEOUT_S": "5",
            "KJS_AGENT__RESYNC_S": "10",
            "KJS_WEBHOOKS__TIMEOUT_S": "3",
            "KJS_WEBHOOKS__MAX_BACKOFF_S": "5",
        }
    )
    d.start_replica()
    d.start_replica()
    for cluster, capacity in zip(clusters, (2, 3, 4), strict=True):
        d.start_agent(cluster.id, capacity)
    wait_clusters(d, 3)
    runs, receiver = Runs(tmp_path / "ran.txt"), WebhookReceiver()
    receiver.down()  # for the first minute every delivery fails (connection refused)
    down_since = time.monotonic()

    total, ids, submitted = 300, [""] * 300, threading.Event()

    def submit_all() -> None:  # a steady client through all outages, at about 4 jobs/s
        for i in range(total):
            name = f"c{i}"
            body = job(k8s_namespace, name, runs.script(name, "sleep 1"), callback_url=receiver.url)
            ids[i] = d.submit(body, key=f"chaos-{i}")["id"]
            time.sleep(0.25)
        submitted.set()

    submitter = threading.Thread(target=submit_all, daemon=True)
    submitter.start()

    def finished(at_least: int) -> None:
        def count() -> bool:
            listed = d.api("GET", "/jobs?state=succeeded&limit=500").json()["items"]
            return len(listed) >= at_least

        wait_until(count, timeout=300, interval=1.0, what=f"{at_least} jobs to succeed")

    finished(30)
    testenv_session.restart("nsqd1", signal.SIGKILL)
    finished(90)
    testenv_session.restart("mysql")
    finished(150)
    time.sleep(max(0.0, 60 - (time.monotonic() - down_since)))  # the outage lasts a minute
    receiver.up()
    leader = next(r for r in d.live_replicas() if httpx.get(f"{r.url}/readyz").json()["leader"])
    assert leader.kill() == -signal.SIGKILL
    finished(200)
    leader.start()
    assert submitted.wait(timeout=300)
    jobs = wait_final(d, ids, timeout=300)

    assert {j["state"] for j in jobs} == {"succeeded"}
    assert runs.counts() == Counter({f"c{i}": 1 for i in range(total)})  # none lost or run twice
    assert all(succeeded_once(d, j["id"]) for j in jobs)

    def every_job_announced() -> dict[str, Delivery] | None:
        first = receiver.first_delivery()
        return first if len(first) >= total else None

    delivered = wait_until(
        every_job_announced,
        timeout=120,
        interval=1.0,
        what="a webhook for every job",
    )
    assert {x.job_id for x in delivered.values()} == set(ids)
    assert receiver.rejected == []
    print(
        f"webhooks: {len(delivered)} events, {receiver.duplicates} duplicate deliveries; "
        f"cluster shares {Counter(j['cluster_id'] for j in jobs)}"
    )
