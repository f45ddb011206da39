"""A 201 means committed, under load too: jobs are written by group commit, and a SIGKILL in
the middle of a stream of submissions (single and batch) loses none that got its 201."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import httpx

from tests.processes import Server

JOB = {"name": "load", "namespace": "ops", "image": "busybox"}


async def test_a_sigkill_under_load_loses_no_job_that_got_its_201(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", {})
    server.start()
    try:
        await _load_and_kill(server, tmp_path)
    finally:
        server.stop()  # whatever went wrong, no server is left running


async def _load_and_kill(server: Server, tmp_path: Path) -> None:
    accepted: set[str] = set()
    killed, underway = asyncio.Event(), asyncio.Event()

    async def submitter(client: httpx.AsyncClient, n: int) -> None:
        i = 0
        while not killed.is_set():
            i += 1
            try:
                if i % 10 == 0:  # now and then a batch, through the same group commit
                    items = [{"job": {**JOB, "name": f"b{n}-{i}-{k}"}} for k in range(20)]
                    response = await client.post("/api/v1/jobs:batch", json={"items": items})
                    if response.status_code == 201:
                        accepted.update(job["id"] for job in response.json()["items"])
                    continue
                response = await client.post("/api/v1/jobs", json={**JOB, "name": f"s{n}-{i}"})
                if response.status_code == 201:
                    accepted.add(response.json()["id"])
                if len(accepted) >= 500:  # well under way, many requests in flight
                    underway.set()
            except httpx.HTTPError:  # the server is gone: what it answered 201 counts
                if killed.is_set():
                    return
                raise

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        load = [asyncio.create_task(submitter(client, n)) for n in range(32)]
        await asyncio.wait_for(underway.wait(), 60)
        # Said first, so that a submitter that sees its connection drop knows why; the ones in
        # flight (one per submitter) are still in flight when the signal lands.
        killed.set()
        assert await asyncio.to_thread(server.kill) == -signal.SIGKILL
        await asyncio.gather(*load)

    db = sqlite3.connect(tmp_path / "data" / "kjs.db")
    try:
        stored = {row[0] for row in db.execute("SELECT id FROM jobs")}
    finally:
        db.close()
    assert accepted <= stored, f"{len(accepted - stored)} jobs answered 201 are not stored"
    server.start()  # and the server comes back with them
    sample = sorted(accepted)[:: max(1, len(accepted) // 20)]
    for job_id in sample:
        assert server.api("GET", f"/jobs/{job_id}").status_code == 200
