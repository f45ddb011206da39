"""The client commands of `kjs` (CONTRACT §1): submit, get, ls, logs, events, cancel, rerun,
cron …, clusters. They talk to a kjs server over HTTP (`--url`/`KJS_URL`, `--token`/`KJS_TOKEN`).

Exit codes: 0 success; 1 the job failed (`submit --wait`); 2 usage or validation error (with the
server's field errors); 3 server unreachable or auth refused.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

FINAL = ("succeeded", "failed", "cancelled")
_URL = click.option(
    "--url",
    envvar="KJS_URL",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The kjs server.",
)
_TOKEN = click.option("--token", envvar="KJS_TOKEN", default=None, help="API token.")
_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"kjs: {message}", err=True)
    sys.exit(code)


class Api:
    def __init__(self, url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1", headers=headers, timeout=30)
        self.url = url

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            _fail(f"kjs server at {self.url} unreachable: {e}", 3)
        if response.status_code in (401, 403):
            _fail(response.json().get("detail", response.text), 3)
        if response.status_code >= 400:
            problem = response.json() if "json" in response.headers.get("content-type", "") else {}
            errors = "; ".join(f"{e['field']}: {e['message']}" for e in problem.get("errors") or [])
            _fail(errors or problem.get("detail") or response.text, 2)
        return (
            response.json() if "json" in response.headers.get("content-type", "") else response.text
        )

    def stream(self, path: str, **params: Any) -> Iterator[str]:
        try:
            with self.http.stream("GET", path, params=params, timeout=None) as response:
                if response.status_code >= 400:
                    response.read()
                    _fail(response.json().get("detail", response.text), 2)
                yield from response.iter_text()
        except httpx.HTTPError as e:
            _fail(f"kjs server at {self.url} unreachable: {e}", 3)


def _show(data: Any, output: str, columns: tuple[str, ...]) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2))
        return
    if output == "yaml":
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
        return
    rows = data["items"] if isinstance(data, dict) and "items" in data else [data]
    table = [
        [str(row.get(c, "") if row.get(c) is not None else "") for c in columns] for row in rows
    ]
    widths = [max([len(c)] + [len(r[i]) for r in table]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


JOB_COLUMNS = ("id", "name", "namespace", "state", "attempt", "cluster_id", "created_at")


def _spec_from(file: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if file:
        import yaml

        text = sys.stdin.read() if file == "-" else Path(file).read_text()
        loaded = yaml.safe_load(text)
        if not isinstance(loaded, dict):
            _fail(f"{file}: expected a mapping of job fields", 2)
        spec.update(loaded)
    spec.update({k: v for k, v in fields.items() if v not in (None, ())})
    return spec


def _specs_from(file: str | None, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The jobs of `submit`: one, from the flags and `file`, or one per document of `file` (a
    YAML stream of `---`-separated documents, or a JSON or YAML list), each with the flags
    over it."""
    if not file:
        return [_spec_from(None, fields)]
    import yaml

    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        _fail(f"{file}: not YAML or JSON: {e}", 2)
    if len(documents) == 1 and isinstance(documents[0], list):
        documents = documents[0]
    if not documents or not all(isinstance(d, dict) for d in documents):
        _fail(f"{file}: expected a mapping of job fields, or several (a YAML stream, a list)", 2)
    overrides = {k: v for k, v in fields.items() if v not in (None, ())}
    return [{**document, **overrides} for document in documents]


def _wait(api: Api, job_id: str, follow: bool) -> dict[str, Any]:
    """Until the job is final, showing each state (and the logs with --follow)."""
    last = None
    if follow:
        for text in api.stream(f"/jobs/{job_id}/logs", follow="true"):
            click.echo(text, nl=False)
    while True:
        job: dict[str, Any] = api.call("GET", f"/jobs/{job_id}")
        if job["state"] != last:
            last = job["state"]
            detail = f" ({job['reason']})" if job.get("reason") else ""
            click.echo(f"{job['name']}: {last}{detail}", err=True)
        if job["state"] in FINAL:
            return job
        time.sleep(0.5)


def register(cli: click.Group) -> None:
    """Add the client commands to the `kjs` group."""

    @cli.command()
    @click.option(
        "-f",
        "--file",
        help=(
            "A YAML or JSON job spec (- for stdin); several (a YAML stream of --- separated "
            "documents, or a list) are submitted in one request, all or none."
        ),
    )
    @click.option("--name")
    @click.option("--namespace")
    @click.option("--image")
    @click.option("--cluster", help="A cluster id to run on.")
    @click.option(
        "--log-collect",
        type=click.Choice(["always", "on_failure", "never"]),
        help="Which logs to keep (default on_failure).",
    )
    @click.option("--wait", is_flag=True, help="Wait for the end; exit 1 if it failed.")
    @click.option("--follow", is_flag=True, help="With --wait: print the logs as they come.")
    @click.argument("command", nargs=-1)
    @_URL
    @_TOKEN
    @_OUTPUT
    def submit(
        url: str,
        token: str | None,
        output: str,
        file: str | None,
        wait: bool,
        follow: bool,
        command: tuple[str, ...],
        **fields: Any,
    ) -> None:
        """Submit a job: kjs submit --name N --namespace NS --image I [--wait] -- CMD ARGS…

        With -f FILE of several jobs, they go in one request (`POST /api/v1/jobs:batch`), and
        are shown as a list (one table row each); --wait waits for each in turn."""
        specs = _specs_from(file, {**fields, "command": list(command) or None})
        api = Api(url, token)
        if len(specs) == 1:
            job = api.call("POST", "/jobs", json=specs[0])
            if not wait:
                _show(job, output, JOB_COLUMNS)
                return
            job = _wait(api, job["id"], follow)
            if output != "table":
                _show(job, output, JOB_COLUMNS)
            sys.exit(0 if job["state"] == "succeeded" else 1)
        batch = api.call("POST", "/jobs:batch", json={"items": [{"job": s} for s in specs]})
        if not wait:
            _show(batch, output, JOB_COLUMNS)
            return
        jobs = [_wait(api, job["id"], follow) for job in batch["items"]]
        if output != "table":
            _show({"items": jobs}, output, JOB_COLUMNS)
        sys.exit(0 if all(job["state"] == "succeeded" for job in jobs) else 1)

    @cli.command()
    @click.argument("job_id")
    @_URL
    @_TOKEN
    @_OUTPUT
    def get(url: str, token: str | None, output: str, job_id: str) -> None:
        """Show one job."""
        _show(Api(url, token).call("GET", f"/jobs/{job_id}"), output, JOB_COLUMNS)

    @cli.command(name="ls")
    @click.option("--state")
    @click.option("--name")
    @click.option("--cluster-id")
    @click.option("--label", multiple=True, help="key=value (repeatable).")
    @click.option("--limit", type=int, default=50, show_default=True)
    @_URL
    @_TOKEN
    @_OUTPUT
    def list_jobs(
        url: str, token: str | None, output: str, label: tuple[str, ...], **filters: Any
    ) -> None:
        """List jobs, newest first."""
        params = {k: v for k, v in filters.items() if v is not None}
        params["label"] = list(label)
        _show(Api(url, token).call("GET", "/jobs", params=params), output, JOB_COLUMNS)

    @cli.command()
    @click.argument("job_id")
    @click.option("--pod")
    @click.option("--container")
    @click.option("-f", "--follow", is_flag=True, help="Stream while the job runs.")
    @_URL
    @_TOKEN
    def logs(url: str, token: str | None, job_id: str, follow: bool, **filters: Any) -> None:
        """Print a job's collected logs."""
        params = {k: v for k, v in filters.items() if v is not None}
        if follow:
            params["follow"] = "true"
        for text in Api(url, token).stream(f"/jobs/{job_id}/logs", **params):
            click.echo(text, nl=False)

    @cli.command()
    @click.argument("job_id")
    @_URL
    @_TOKEN
    @_OUTPUT
    def events(url: str, token: str | None, output: str, job_id: str) -> None:
        """A job's status history."""
        _show(
            Api(url, token).call("GET", f"/jobs/{job_id}/events"),
            output,
            ("at", "attempt", "state", "reason", "pod", "exit_code", "cluster_id"),
        )

    @cli.command()
    @click.argument("job_id")
    @_URL
    @_TOKEN
    @_OUTPUT
    def cancel(url: str, token: str | None, output: str, job_id: str) -> None:
        """Cancel a job."""
        _show(Api(url, token).call("DELETE", f"/jobs/{job_id}"), output, JOB_COLUMNS)

    @cli.command()
    @click.argument("job_id")
    @_URL
    @_TOKEN
    @_OUTPUT
    def rerun(url: str, token: str | None, output: str, job_id: str) -> None:
        """Run a job again (attempt n+1)."""
        _show(Api(url, token).call("POST", f"/jobs/{job_id}/rerun"), output, JOB_COLUMNS)

    cron_columns = ("id", "name", "namespace", "schedule", "mode", "state", "next_run_at")

    @cli.group()
    def cron() -> None:
        """Cron jobs."""

    @cron.command(name="create")
    @click.option("-f", "--file", required=True, help="A YAML or JSON cron job spec.")
    @_URL
    @_TOKEN
    @_OUTPUT
    def cron_create(url: str, token: str | None, output: str, file: str) -> None:
        """Create a cron job from a file."""
        _show(
            Api(url, token).call("POST", "/cronjobs", json=_spec_from(file, {})),
            output,
            cron_columns,
        )

    @cron.command(name="ls")
    @_URL
    @_TOKEN
    @_OUTPUT
    def cron_ls(url: str, token: str | None, output: str) -> None:
        """List cron jobs."""
        _show(Api(url, token).call("GET", "/cronjobs"), output, cron_columns)

    for verb, method, path in (
        ("get", "GET", ""),
        ("delete", "DELETE", ""),
        ("suspend", "POST", "/suspend"),
        ("resume", "POST", "/resume"),
        ("trigger", "POST", "/trigger"),
    ):

        def action(
            url: str,
            token: str | None,
            output: str,
            cron_id: str,
            method: str = method,
            path: str = path,
        ) -> None:
            columns = JOB_COLUMNS if path == "/trigger" else cron_columns
            _show(Api(url, token).call(method, f"/cronjobs/{cron_id}{path}"), output, columns)

        action.__doc__ = f"{verb.capitalize()} a cron job."
        cron.command(name=verb)(_OUTPUT(_TOKEN(_URL(click.argument("cron_id")(action)))))

    @cli.command()
    @click.argument("action", type=click.Choice(["ls", "cordon", "uncordon"]), default="ls")
    @click.argument("cluster_id", required=False)
    @_URL
    @_TOKEN
    @_OUTPUT
    def clusters(
        url: str, token: str | None, output: str, action: str, cluster_id: str | None
    ) -> None:
        """List clusters, or cordon/uncordon one."""
        api = Api(url, token)
        columns = ("id", "state", "capacity", "running", "pending", "load", "version")
        if action == "ls":
            _show(api.call("GET", "/clusters"), output, columns)
            return
        if cluster_id is None:
            raise click.UsageError(f"clusters {action} needs a cluster id")
        _show(api.call("POST", f"/clusters/{cluster_id}/{action}"), output, columns)
