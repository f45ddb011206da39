"""`submit --wait`, `get -w`, `ls -w` and `events -w` on the server's watch API: every state
shown, in order, as the agent reports it; a watch ends at the job's end or with Ctrl-C (exit 0).
"""

from __future__ import annotations

import json
import signal
import subprocess

from kjs.testing.waiting import wait_until
from tests.cli.support import KJS, Lines, ScriptedAgent, process, run, state_of, submit
from tests.live import LiveServer

FLAGS = ("--namespace", "default", "--image", "busybox")


def job_named(server: LiveServer, name: str) -> dict[str, object]:
    def found() -> dict[str, object] | None:
        items = server.get("/api/v1/jobs", params={"name": name}).json()["items"]
        return items[0] if items else None

    return wait_until(found, timeout=10, what=f"job {name} to be stored")


def test_submit_wait_shows_every_state_in_order_and_exits_0(
    server: LiveServer, agent: ScriptedAgent
) -> None:
    # The agent creates and starts it at once; it ends only when the test says so.
    agent.script["waited"] = ["created", "running"]
    waiting = process(server, "submit", "--name", "waited", *FLAGS, "--wait", "-o", "json")
    stderr = Lines(waiting.stderr)
    assert [stderr.next().split(" (")[0] for _ in range(4)] == [
        "waited: pending",
        "waited: dispatched",
        "waited: created",
        "waited: running",
    ]
    job = job_named(server, "waited")
    agent.status(job, "succeeded", reason="Completed")
    assert stderr.next() == "waited: succeeded (Completed)"
    assert waiting.wait(15) == 0
    assert waiting.stdout is not None
    final = json.loads(waiting.stdout.read())
    assert final["id"] == job["id"] and final["state"] == "succeeded"


def test_submit_wait_exits_1_when_the_job_fails(server: LiveServer, agent: ScriptedAgent) -> None:
    # All at once: a watcher that polled would see only the end.
    agent.script["doomed"] = [
        "created",
        "running",
        ("failed", {"reason": "BackoffLimitExceeded"}),
    ]
    failed = run(server, "submit", "--name", "doomed", *FLAGS, "--wait")
    assert failed.exit_code == 1
    assert [line.split(" (")[0] for line in failed.stderr.splitlines()] == [
        "doomed: pending",
        "doomed: dispatched",
        "doomed: created",
        "doomed: running",
        "doomed: failed",
    ]
    assert failed.stderr.splitlines()[-1] == "doomed: failed (BackoffLimitExceeded)"
    assert failed.stdout == ""  # the table shows nothing more: the states said it


def test_submit_wait_of_several_jobs_waits_for_each(
    server: LiveServer, agent: ScriptedAgent
) -> None:
    agent.script["fine"] = ["created", "succeeded"]
    agent.script["broken"] = ["created", ("failed", {"reason": "Error"})]
    documents = "\n---\n".join(
        f"name: {name}\nnamespace: default\nimage: busybox" for name in ("fine", "broken")
    )
    both = run(
        server, "submit", "-f", "-", "--wait", "-o", "jsonpath={.items[*].state}", input=documents
    )
    assert both.exit_code == 1
    assert both.stdout == "succeeded failed\n"
    assert "fine: succeeded" in both.stderr and "broken: failed (Error)" in both.stderr


def test_get_w_prints_a_row_per_change_until_the_job_is_final(
    server: LiveServer, agent: ScriptedAgent
) -> None:
    job = submit(server, "watched")
    wait_until(lambda: state_of(server, job["id"]) == "created", timeout=10, what="created")
    watching = process(server, "get", str(job["id"]), "-w")
    events = process(server, "events", str(job["id"]), "-w", "-o", "jsonpath={.state}")
    rows = Lines(watching.stdout)
    assert rows.next().split() == ["ID", "NAME", "NAMESPACE", "STATE", "AGE"]
    assert rows.next().split()[1:4] == ["watched", "default", "created"]
    # The same name, another job: not this one's row.
    submit(server, "watched")
    agent.status(job, "running")
    assert rows.next().split()[1:4] == ["watched", "default", "running"]
    agent.status(job, "succeeded")
    assert rows.next().split()[1:4] == ["watched", "default", "succeeded"]
    assert rows.rest() == [] and watching.wait(15) == 0
    # events -w: the history, then each new event, until the end.
    assert Lines(events.stdout).rest() == [
        "pending",
        "dispatched",
        "created",
        "running",
        "succeeded",
    ]
    assert events.wait(15) == 0


def test_ls_w_lists_then_follows_changes_until_ctrl_c(server: LiveServer) -> None:
    first = submit(server, "first")
    watching = process(server, "ls", "-w", "--no-headers")
    rows = Lines(watching.stdout)
    assert rows.next().split()[:4] == [first["id"], "first", "default", "pending"]
    second = submit(server, "second")
    assert rows.next().split()[:4] == [second["id"], "second", "default", "pending"]
    assert run(server, "cancel", second["id"]).exit_code == 0
    assert rows.next().split()[:4] == [second["id"], "second", "default", "cancelled"]
    watching.send_signal(signal.SIGINT)
    assert watching.wait(15) == 0
    assert watching.stderr is not None and watching.stderr.read() == ""


def test_ls_w_in_json_prints_each_changed_job(server: LiveServer) -> None:
    watching = process(server, "ls", "-w", "-o", "json", "--state", "cancelled")
    out = Lines(watching.stdout)

    def document() -> object:
        """The next indented JSON object."""
        lines = [out.next()]
        while lines[-1] != "}":
            lines.append(out.next())
        return json.loads("\n".join(lines))

    assert document() == {"items": [], "next_cursor": None}
    job = submit(server, "stopped")
    assert run(server, "cancel", job["id"]).exit_code == 0
    changed = document()
    assert isinstance(changed, dict)
    assert changed["id"] == job["id"] and changed["state"] == "cancelled"
    watching.send_signal(signal.SIGINT)
    assert watching.wait(15) == 0


def test_a_watch_on_an_unreachable_server_is_exit_3() -> None:
    gone = subprocess.run(
        [str(KJS), "ls", "-w", "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert gone.returncode == 3 and "unreachable" in gone.stderr
