"""The watch API with two server replicas on one MariaDB database, writing at the same time:
transactions commit in any order between replicas, and a watcher must still miss nothing, on
either replica, and resume on the other when its replica stops."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kjs.testing.waiting import wait_until
from tests.api.test_watch import Stream
from tests.deployment import Deployment, fresh_database
from tests.processes import Server

pytestmark = [pytest.mark.nsq, pytest.mark.mysql]

JOBS = 60


@pytest.fixture
def replicas(
    mysql_env: dict[str, str], nsq_env: dict[str, list[dict[str, str]]], tmp_path: Path
) -> Iterator[list[Server]]:
    with fresh_database(mysql_env["admin_url"]) as database:
        deployment = Deployment({"nsq": nsq_env, "clusters": []}, database, tmp_path, "default")
        try:
            yield [deployment.start_replica(), deployment.start_replica()]
        finally:
            deployment.stop()


def churn(replicas: list[Server]) -> set[str]:
    """JOBS jobs submitted and cancelled, half through each replica, 8 clients at once."""

    def one(i: int) -> str:
        replica = replicas[i % 2]
        job = {"name": f"w{i}", "namespace": "ops", "image": "busybox"}
        created = replica.api("POST", "/jobs", json=job)
        assert created.status_code == 201, created.text
        job_id: str = created.json()["id"]
        other = replicas[(i + 1) % 2]  # cancelled through the other one
        assert other.api("DELETE", f"/jobs/{job_id}").status_code in (200, 202)
        return job_id

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(one, range(JOBS)))


def follow(
    stream: Stream,
    seen: dict[str, str],
    seqs: list[int],
    stop: threading.Event,
    kinds: list[str] | None = None,
) -> None:
    """Every line until the stream ends or `stop` is set (and the stream is quiet)."""
    while True:
        try:
            line = stream.next(timeout=0.5)
        except Exception:  # queue.Empty: quiet
            if stop.is_set():
                return
            continue
        if line is None:
            return
        seqs.append(line["seq"])
        if kinds is not None:
            kinds.append(line["type"])
        if line["type"] != "BOOKMARK":
            seen[line["job"]["id"]] = line["job"]["state"]


def test_watchers_on_both_replicas_see_every_change_of_both(replicas: list[Server]) -> None:
    start = replicas[0].api("GET", "/jobs").json()["watch_cursor"]
    streams = [
        Stream(f"{r.url}/api/v1/jobs", {"watch": "true", "watch_cursor": start}, {})
        for r in replicas
    ]
    seen: list[dict[str, str]] = [{}, {}]
    seqs: list[list[int]] = [[], []]
    kinds: list[list[str]] = [[], []]
    stop = threading.Event()
    readers = [
        threading.Thread(target=follow, args=(streams[n], seen[n], seqs[n], stop, kinds[n]))
        for n in range(2)
    ]
    for reader in readers:
        reader.start()
    job_ids = churn(replicas)
    position = int(replicas[1].api("GET", "/jobs").json()["watch_cursor"])

    wait_until(
        lambda: all(s and max(s) >= position for s in seqs),
        timeout=30,
        what="both watchers to reach the last change",
    )
    stop.set()
    for reader in readers:
        reader.join(15)
    for stream in streams:
        stream.close()
    for n in range(2):
        assert seen[n] == dict.fromkeys(job_ids, "cancelled"), f"the watcher on replica {n + 1}"
        assert seqs[n] == sorted(seqs[n]), "seqs never go back"
        items = [s for s, kind in zip(seqs[n], kinds[n], strict=True) if kind != "BOOKMARK"]
        assert len(items) == len(set(items)), "no change twice"


def test_a_watcher_resumes_on_the_other_replica_when_its_replica_stops(
    replicas: list[Server],
) -> None:
    start = replicas[0].api("GET", "/jobs").json()["watch_cursor"]
    first = Stream(f"{replicas[0].url}/api/v1/jobs", {"watch": "true", "watch_cursor": start}, {})
    seen: dict[str, str] = {}
    seqs: list[int] = []
    stop = threading.Event()
    reader = threading.Thread(target=follow, args=(first, seen, seqs, stop))
    reader.start()

    def churn_until_it_fails() -> None:
        with contextlib.suppress(httpx.HTTPError):  # replica 1 stops under it
            churn(replicas)

    submitter = threading.Thread(target=churn_until_it_fails)
    submitter.start()
    wait_until(lambda: len(seen) >= 10, timeout=30, what="the first changes")
    replicas[0].stop()  # mid-churn: its stream ends (the churn's calls to it fail)
    reader.join(30)
    assert not reader.is_alive(), "the stream of the stopped replica did not end"
    submitter.join(60)
    # The churn's calls to the stopped replica failed: what matters is what was stored.
    survivors = replicas[1]
    stored = {
        j["id"]: j["state"]
        for j in survivors.api("GET", "/jobs", params={"limit": 500}).json()["items"]
    }
    position = int(survivors.api("GET", "/jobs").json()["watch_cursor"])
    resumed = Stream(
        f"{survivors.url}/api/v1/jobs",
        {"watch": "true", "watch_cursor": str(seqs[-1] if seqs else start)},
        {},
    )
    more: dict[str, str] = {}
    more_seqs: list[int] = []
    stop2 = threading.Event()
    reader2 = threading.Thread(target=follow, args=(resumed, more, more_seqs, stop2))
    reader2.start()
    wait_until(
        lambda: bool(more_seqs) and max(more_seqs) >= position,
        timeout=30,
        what="the resumed watch to reach the last change",
    )
    stop2.set()
    reader2.join(15)
    resumed.close()
    first.close()
    assert {**seen, **more} == stored
    assert not set(seqs) & set(more_seqs) - {seqs[-1] if seqs else int(start)}
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{replicas[0].url}/readyz", timeout=1)
