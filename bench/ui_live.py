"""How soon a status change shows in the open jobs page (issue 17: p99 <= 1 s, in the browser).

    python bench/ui_live.py                        # 100 status changes/s for 60 s, 40 jobs
    python bench/ui_live.py --rate 100 --seconds 60 --jobs 40

A server (SQLite, in-memory queue, open mode) runs in this process, on a real socket, with a
simulated agent on its queue: a heartbeat for one cluster, and for each job dispatched to it the
`created`, `running`, `succeeded` StatusEvents an agent would send, paced at `--rate` events a
second overall; a succeeded job is rerun (`POST /rerun`), so the same `--jobs` jobs (all on the
page's first screen of rows) keep changing. Chromium shows `/ui/jobs`; a `MutationObserver`
records `Date.now()` whenever a row's state cell changes. Each job's status history
(`GET .../events`, read at the end) says when each change was made: by the server (`pending`,
`dispatched`) or by the simulated agent as it sent the event, so no later than it was stored.
Both clocks are this machine's.

Delay = shown - made, an upper bound of shown - stored, for every change the page showed; a change
the page never showed (the row went past it before rendering) is counted apart as `missed`. A
shown state is matched to the job's latest change to that state before it, so a page lagging by
more than a job's cycle (about `--jobs` / `--rate` x 3 s) would be measured short: `max_ms` says
whether that could have happened. Prints p50/p99 and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.live, tests.browser

from kjs.core import messages
from kjs.core.config import load
from kjs.server import create_app
from tests.browser import PageWatch, chromium_context
from tests.live import LiveServer, live_server

CLUSTER = "bench-ui"
NAMESPACE = "bench"
AGENT_STATES = ("created", "running", "succeeded")

# Installed before the page's scripts: every change of a row's state cell, with the wall clock.
OBSERVER = """
window.__kjsShown = [];
const seen = new Map();
const record = () => {
  for (const row of document.querySelectorAll('tr[data-job-id]')) {
    const cell = row.querySelector('td[data-col=state]');
    if (!cell) continue;
    const id = row.dataset.jobId, state = cell.textContent.trim();
    if (seen.get(id) !== state) {
      seen.set(id, state);
      window.__kjsShown.push([id, state, Date.now()]);
    }
  }
};
new MutationObserver(record).observe(document, {subtree: true, childList: true,
  characterData: true, attributes: true, attributeFilter: ['class', 'data-state']});
"""


class SimulatedAgent:
    """One cluster's agent, on the server's queue: acknowledges dispatches and sends status."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.queue = live.app.state.components.queue
        self.dispatched: queue.Queue[tuple[str, int]] = queue.Queue()
        self._seen: set[tuple[str, int]] = set()
        live.call(
            self.queue.subscribe(
                messages.dispatch_topic(CLUSTER), messages.AGENT_CHANNEL, self._receive
            )
        )
        live.call(
            self.queue.subscribe(
                messages.control_topic(CLUSTER), messages.AGENT_CHANNEL, self._ignore
            )
        )

    async def _receive(self, delivery: Any) -> bool:
        message = messages.decode(delivery.body)
        # A dispatch may come again (the relay republishes until the object is seen): once each.
        if (
            isinstance(message, messages.Dispatch)
            and (key := (message.job_id, message.attempt)) not in self._seen
        ):
            self._seen.add(key)
            self.dispatched.put(key)
        return True

    async def _ignore(self, delivery: Any) -> bool:
        return True

    def publish(self, topic: str, message: Any) -> None:
        self.live.call(self.queue.publish(topic, messages.encode(message)))

    def heartbeat(self) -> None:
        now = dt.datetime.now(dt.UTC)
        beat = messages.Heartbeat(cluster_id=CLUSTER, at=now, capacity=100_000, version="bench")
        self.publish(messages.HEARTBEAT_TOPIC, beat)

    def status(self, job_id: str, attempt: int, state: str) -> None:
        event = messages.StatusEvent(
            cluster_id=CLUSTER,
            job_id=job_id,
            attempt=attempt,
            state=state,
            at=dt.datetime.now(dt.UTC),
            exit_codes={"pod/main": {"main": 0}} if state == "succeeded" else {},
        )
        self.publish(messages.STATUS_TOPIC, event)


def histories(url: str, job_ids: list[str]) -> dict[str, list[tuple[str, float]]]:
    """Each job's whole status history, (state, at) in order. `at` is when the server made the
    change or the agent saw it (sent it, here): no later than when it was stored, so a delay
    measured from it is an upper bound. (The jobs watch coalesces a job's quick changes.)"""
    with httpx.Client(base_url=url, timeout=30) as client:
        return {
            job_id: [
                (e["state"], dt.datetime.fromisoformat(e["at"]).timestamp())
                for e in client.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
            ]
            for job_id in job_ids
        }


def drive(agent: SimulatedAgent, url: str, rate: float, seconds: float) -> tuple[int, float]:
    """Send status events at `rate`/s for `seconds`: each dispatched job's three states in
    turn, then a rerun of the job. Returns the events sent and the seconds it took."""
    ready: collections.deque[tuple[str, int, int]] = collections.deque()
    sent = 0
    reruns = httpx.Client(base_url=url, timeout=10)
    rerun_queue: queue.Queue[str | None] = queue.Queue()

    def rerun_worker() -> None:
        while (job_id := rerun_queue.get()) is not None:
            reruns.post(f"/api/v1/jobs/{job_id}/rerun").raise_for_status()

    workers = [threading.Thread(target=rerun_worker, daemon=True) for _ in range(4)]
    for worker in workers:
        worker.start()
    start = last_beat = time.monotonic()
    interval = 1 / rate
    while (now := time.monotonic()) - start < seconds:
        while True:
            try:
                job_id, attempt = agent.dispatched.get_nowait()
            except queue.Empty:
                break
            ready.append((job_id, attempt, 0))
        if not ready:
            time.sleep(0.001)
            continue
        job_id, attempt, step = ready.popleft()
        agent.status(job_id, attempt, AGENT_STATES[step])
        sent += 1
        if step + 1 < len(AGENT_STATES):
            ready.append((job_id, attempt, step + 1))
        else:
            rerun_queue.put(job_id)
        # Paced on the schedule, not on the last send: a slow send does not lower the rate.
        pause = start + sent * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if now - last_beat > 1:  # the cluster stays alive (liveness)
            agent.heartbeat()
            last_beat = now
    elapsed = time.monotonic() - start
    for _ in workers:
        rerun_queue.put(None)
    for worker in workers:
        worker.join(30)
    reruns.close()
    return sent, elapsed


class Outcome(NamedTuple):
    delays: list[float]  # seconds from made to shown, per change shown
    made: int  # changes made after the page opened
    missed_brief: int  # never shown, replaced in under a second (e.g. pending -> dispatched)
    missed_lasting: int  # never shown though it held a second or more: a real miss


def match(
    history_by_job: dict[str, list[tuple[str, float]]], shown: list[list[Any]], since: float
) -> Outcome:
    """Each shown change against the job's latest change to that state made before it."""
    delays: list[float] = []
    matched: set[tuple[str, int]] = set()
    for job_id, state, shown_ms in shown:
        shown_at = shown_ms / 1000
        history = history_by_job.get(job_id, [])
        # 2 ms: Date.now() has millisecond steps
        made = [
            (i, at) for i, (s, at) in enumerate(history) if s == state and at <= shown_at + 0.002
        ]
        if not made or made[-1][1] < since or (job_id, made[-1][0]) in matched:
            continue
        matched.add((job_id, made[-1][0]))
        delays.append(max(0.0, shown_at - made[-1][1]))
    brief = lasting = total = 0
    for job_id, history in history_by_job.items():
        for i, (_, at) in enumerate(history):
            if at < since:
                continue
            total += 1
            if (job_id, i) not in matched:
                held = (history[i + 1][1] if i + 1 < len(history) else time.time()) - at
                if held < 1:
                    brief += 1
                else:
                    lasting += 1
    return Outcome(delays, total, brief, lasting)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="status events a second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, default=40, help="jobs cycling (all on the page)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kjs-ui-live-") as tmp:
        settings = load(environ={}, overrides={"data_dir": tmp, "election": "single"})
        with live_server(create_app(settings)) as live:
            agent = SimulatedAgent(live)
            agent.heartbeat()
            deadline = time.monotonic() + 30
            while live.get(f"/api/v1/clusters/{CLUSTER}").status_code != 200:
                assert time.monotonic() < deadline, "the simulated heartbeat was not recorded"
                time.sleep(0.05)
            job_ids = []
            for i in range(args.jobs):
                body = {"name": f"live-{i:03d}", "namespace": NAMESPACE, "image": "busybox"}
                job_ids.append(live.post("/api/v1/jobs", json=body).raise_for_status().json()["id"])

            with chromium_context(
                Path(tmp) / "profile", viewport={"width": 1366, "height": 2000}
            ) as ctx:
                watch = PageWatch(ctx)
                page = ctx.new_page()
                page.add_init_script(OBSERVER)
                page.goto(live.url + "/ui/jobs")
                page.wait_for_selector("tr[data-job-id]", timeout=30_000)
                since = time.time()
                sent, elapsed = drive(agent, live.url, args.rate, args.seconds)
                time.sleep(2)  # the last changes' way to the page; the bound of the measure
                shown = page.evaluate("window.__kjsShown")
                rows = page.locator("tr[data-job-id]").count()
                page.close()
                watch.check()
            stored = histories(live.url, job_ids)

    outcome = match(stored, shown, since)
    measured = outcome.delays
    if len(measured) < 2:
        sys.exit(f"too few changes seen in the page ({len(measured)} of {outcome.made})")
    q = statistics.quantiles(measured, n=100)
    p50, p99 = round(q[49] * 1000, 1), round(q[98] * 1000, 1)
    print(f"status events sent: {sent} in {elapsed:.1f} s ({sent / elapsed:.1f}/s); rows: {rows}")
    print(
        f"changes made: {outcome.made}, shown: {len(measured)}, never shown: "
        f"{outcome.missed_brief} replaced within 1 s, {outcome.missed_lasting} that lasted longer"
    )
    print(f"made -> shown: p50 {p50} ms, p99 {p99} ms, max {round(max(measured) * 1000, 1)} ms")
    result = {
        "rate_per_s": round(sent / elapsed, 1),
        "seconds": round(elapsed, 1),
        "events_sent": sent,
        "changes_made": outcome.made,
        "changes_shown": len(measured),
        "missed_brief": outcome.missed_brief,
        "missed_lasting": outcome.missed_lasting,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": round(max(measured) * 1000, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
