"""The client commands of `kjs` for jobs and clusters (CONTRACT §1): submit, get, ls, logs,
events, cancel, rerun, clusters. They talk to a kjs server through the SDK (`kjs.client`;
`--url`/`KJS_URL`, `--token`/`KJS_TOKEN`), which is imported when a command runs, not when
`kjs --help` or a completion request imports this module.

Exit codes: 0 success; 1 the job failed (`submit --wait`); 2 usage or validation error (with the
server's field errors); 3 server unreachable or auth refused.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kjs.cli.common import (
    builtins,
    connected,
    drop_unset,
    fail,
    labels_of,
    token_option,
    url_option,
)
from kjs.cli.complete import job_ids
from kjs.cli.output import (
    CLUSTERS,
    EVENTS,
    JOBS,
    PRIORITY_CLASSES,
    QUEUES,
    JsonPath,
    Printer,
    dump_json,
    dump_yaml,
    jobs_with_shares,
    no_headers_option,
    output_option,
    priority_line,
    waiting_line,
)

if TYPE_CHECKING:
    from kjs.client import Client, Event, Job, Logs

MAX_PAGE = 500  # the server's largest page


def _read(file: str) -> str:
    try:
        return sys.stdin.read() if file == "-" else Path(file).read_text()
    except OSError as e:
        fail(f"{file}: {e.strerror or e}", 2)


def spec_from(file: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    """One spec: the mapping in `file` (YAML or JSON), the flags over it."""
    spec: dict[str, Any] = {}
    if file:
        import yaml

        try:
            loaded = yaml.safe_load(_read(file))
        except yaml.YAMLError as e:
            fail(f"{file}: not YAML or JSON: {e}", 2)
        if not isinstance(loaded, dict):
            fail(f"{file}: expected a mapping of fields", 2)
        spec.update(loaded)
    spec.update(drop_unset(fields))
    return spec


def specs_from(file: str | None, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The jobs of `submit`: one, from the flags and `file`, or one per document of `file` (a
    YAML stream of `---`-separated documents, or a JSON or YAML list), each with the flags
    over it."""
    if not file:
        return [spec_from(None, fields)]
    import yaml

    try:
        documents = [d for d in yaml.safe_load_all(_read(file)) if d is not None]
    except yaml.YAMLError as e:
        fail(f"{file}: not YAML or JSON: {e}", 2)
    if len(documents) == 1 and isinstance(documents[0], list):
        documents = documents[0]
    if not documents or not all(isinstance(d, dict) for d in documents):
        fail(f"{file}: expected a mapping of job fields, or several (a YAML stream, a list)", 2)
    overrides = drop_unset(fields)
    return [{**document, **overrides} for document in documents]


def _time_option(name: str, help_: str) -> Callable[[Any], Any]:
    def parse(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        try:
            at = dt.datetime.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(
                f"{value!r}: an RFC 3339 time (2025-01-31T12:00:00Z)"
            ) from None
        return at if at.tzinfo else at.replace(tzinfo=dt.UTC)

    return click.option(name, callback=parse, help=help_)


# -- submit -------------------------------------------------------------------------------------


class StateLines:
    """`NAME: state (reason)` on stderr for each state a job goes through, once each; the
    first line also gives the job's id (what `kjs logs`, `get` and `cancel` take)."""

    def __init__(self, name: str, job_id: str = "") -> None:
        self.name = name
        self.job_id = job_id
        self.last: tuple[int, str, str | None] | None = None

    def show(self, attempt: int, state: str, reason: str | None) -> None:
        if (attempt, state, reason) == self.last:
            return
        line = f"{self.name}: {state}" + (f" ({reason})" if reason else "")
        if self.last is None and self.job_id:
            line += f" [id {self.job_id}]"
        self.last = (attempt, state, reason)
        click.echo(line, err=True)

    def event(self, event: Event) -> None:
        self.show(event.attempt, event.state, event.reason)


def _wait(client: Client, url: str, token: str | None, job: Job, follow: bool) -> Job:
    """Until the job is final, each state on stderr as it happens (the job's event stream from
    its first event: no polling, no state missed); with `follow`, its logs on stdout
    meanwhile."""
    lines = StateLines(job.name, job.id)
    if not follow:
        return client.wait(job.id, on_event=lines.event)
    import threading

    from kjs.client import Client as SdkClient

    outcome: dict[str, Any] = {}

    def wait_aside() -> None:
        try:
            with SdkClient(url, token) as other:  # a connection of its own for the events
                outcome["job"] = other.wait(job.id, on_event=lines.event)
        except BaseException as e:  # handed to the main thread, which reports it
            outcome["error"] = e

    waiter = threading.Thread(target=wait_aside, name="kjs-wait", daemon=True)
    waiter.start()
    for text in client.follow_logs(job.id):
        _show(text)
    waiter.join()
    if "error" in outcome:
        raise outcome["error"]
    final: Job = outcome["job"]
    return final


def _print_dry_run(manifests: list[dict[str, Any]], output: str) -> None:
    """The Kubernetes Jobs: YAML unless `-o json` (or name, jsonpath)."""
    if output == "json":
        document = (
            manifests[0]
            if len(manifests) == 1
            else {"apiVersion": "v1", "kind": "List", "items": manifests}
        )
        click.echo(dump_json(document))
    elif output == "name":
        for manifest in manifests:
            click.echo(f"job.batch/{manifest.get('metadata', {}).get('name', '')}")
    elif output.startswith("jsonpath="):
        path = JsonPath(output.removeprefix("jsonpath="))
        for manifest in manifests:
            text = path.render(manifest)
            click.echo(text, nl=not text.endswith("\n"))
    else:
        click.echo("\n---\n".join(dump_yaml(manifest) for manifest in manifests))


@click.command()
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
@click.option("--queue", help="The queue to submit to (default: `default`; see `kjs queues`).")
@click.option(
    "--priority-class",
    help="Its priority class (default: its queue's; see `kjs priority-classes`).",
)
@click.option(
    "--log-collect",
    type=click.Choice(["always", "on_failure", "never"]),
    help="Which logs to keep (default on_failure).",
)
@click.option(
    "--wait", is_flag=True, help="Show each state on stderr until the end; exit 1 if it failed."
)
@click.option(
    "--follow", is_flag=True, help="Print the logs as they come meanwhile (implies --wait)."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the Kubernetes Job it would become (YAML; -o json), store nothing.",
)
@click.argument("command", nargs=-1)
@url_option
@token_option
@output_option()
@no_headers_option
def submit(
    url: str,
    token: str | None,
    output: str,
    no_headers: bool,
    file: str | None,
    wait: bool,
    follow: bool,
    dry_run: bool,
    command: tuple[str, ...],
    **fields: Any,
) -> None:
    """Submit a job: kjs submit --name N --namespace NS --image I [--wait] -- CMD ARGS…

    With -f FILE of several jobs, they go in one request (`POST /api/v1/jobs:batch`), and
    are shown as a list (one table row each); --wait waits for each in turn."""
    wait = wait or follow
    if dry_run and wait:
        raise click.UsageError("--dry-run stores nothing to wait for")
    specs = specs_from(file, {**fields, "command": list(command) or None})
    printer = Printer(JOBS, output, headers=not no_headers)
    with connected(url, token) as client:
        if dry_run:
            _print_dry_run([client.dry_run(spec) for spec in specs], output)
            return
        if len(specs) == 1:
            jobs = [client.submit(specs[0])]
            if not wait:
                printer.one(builtins(jobs[0]))
                return
        else:
            jobs = client.submit_many(specs)
            if not wait:
                items = builtins(jobs)
                printer.listing(items, {"items": items})
                return
        finals = [_wait(client, url, token, job, follow) for job in jobs]
    if output not in ("table", "wide"):  # the states were on stderr; the result on stdout
        items = builtins(finals)
        if len(items) == 1:
            printer.one(items[0])
        else:
            printer.listing(items, {"items": items})
    sys.exit(0 if all(job.state == "succeeded" for job in finals) else 1)


# -- get, ls ------------------------------------------------------------------------------------


def _key(job: Job) -> tuple[Any, ...]:
    return (job.updated_at, job.attempt, job.state)


def _follow(
    client: Client,
    printer: Printer,
    watch_cursor: str | None,
    filters: dict[str, Any],
    seen: dict[str, tuple[Any, ...]],
    relist: Callable[[], tuple[list[Job], str | None]],
    *,
    keep: Callable[[Job], bool] = lambda _job: True,
    until: Callable[[str, Job], bool] = lambda _type, _job: False,
) -> None:
    """Print each change of the jobs `filters` select (and `keep` keeps), from
    `watch_cursor`, until `until(change type, job)` (or Ctrl-C). `seen` (id -> what was
    printed last) keeps a change from printing twice: the watch may repeat what a listing
    already showed. An expired cursor lists again (`relist`) and goes on from there, as
    kubectl does."""
    from kjs.client import WatchExpired

    def show(kind: str, job: Job) -> bool:
        if keep(job) and (job.id not in seen or _key(job) > seen[job.id]):
            seen[job.id] = _key(job)
            printer.one(builtins(job))
        return keep(job) and until(kind, job)

    while True:
        try:
            for change in client.watch(watch_cursor=watch_cursor, **filters):
                watch_cursor = str(change.seq)
                if change.job is not None and show(change.type, change.job):
                    return
        except WatchExpired:
            jobs, watch_cursor = relist()
            if any([show("MODIFIED", job) for job in jobs]):
                return


def _until_interrupted(run: Callable[[], None]) -> None:
    """A watch ends with Ctrl-C, which is how a user says "enough": exit 0."""
    try:
        run()
    except KeyboardInterrupt:
        sys.exit(0)


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@click.option(
    "-w", "--watch", is_flag=True, help="Then a row for each change, until the job is final."
)
@url_option
@token_option
@output_option()
@no_headers_option
def get(
    url: str, token: str | None, output: str, no_headers: bool, job_id: str, watch: bool
) -> None:
    """Show one job (a pending one with why it waits and its place in its queue)."""
    printer = Printer(JOBS, output, headers=not no_headers)

    def run() -> None:
        with connected(url, token) as client:
            # A watch position first: what changes after the job is read comes again, rather
            # than never.
            watch_cursor = client.list(limit=1).watch_cursor if watch else None
            job = client.get(job_id)
            printer.one(builtins(job))
            # For a person (not a script): its priority, why it waits, and where it stands in
            # its queue.
            if output in ("table", "wide") and not no_headers:
                for line in (priority_line(builtins(job)), waiting_line(builtins(job))):
                    if line:
                        click.echo(line)
            if not watch or job.is_final:
                return

            def relist() -> tuple[list[Job], str | None]:
                cursor = client.list(limit=1).watch_cursor
                return [client.get(job_id)], cursor

            # The watch selects by name (it has no id filter): other jobs of that name are
            # skipped. A job deleted (by retention) changes no more either.
            _follow(
                client,
                printer,
                watch_cursor,
                {"name": job.name},
                {job.id: _key(job)},
                relist,
                keep=lambda changed: changed.id == job_id,
                until=lambda kind, changed: kind == "DELETED" or changed.is_final,
            )

    _until_interrupted(run)


def _pages(
    client: Client, filters: dict[str, Any], limit: int | None, cursor: str | None
) -> tuple[list[Job], str | None, str | None]:
    """Jobs from `cursor` on, page after page until `limit` (None: all), the cursor after
    them, and the first page's watch position."""
    jobs: list[Job] = []
    watch_cursor = None
    first = True
    while True:
        size = MAX_PAGE if limit is None else min(MAX_PAGE, limit - len(jobs))
        page = client.list(limit=size, cursor=cursor, **filters)
        if first:
            watch_cursor, first = page.watch_cursor, False
        jobs += page.items
        cursor = page.next_cursor
        if not cursor or (limit is not None and len(jobs) >= limit):
            return jobs, cursor, watch_cursor


# The API's orders (kjs.core.protocols.JOB_SORTS; not imported: the CLI starts without kjs.core).
SORTS = ("-created_at", "created_at", "-updated_at", "updated_at", "name", "-name")


@click.command(name="ls")
@click.option("--state", help="pending, dispatched, created, running, succeeded, failed, …")
@click.option("--name")
@click.option("--cluster-id")
@click.option("--cron-id", help="Runs of this cron job.")
@click.option("--label", multiple=True, help="key=value (repeatable).")
@_time_option("--created-after", "RFC 3339.")
@_time_option("--created-before", "RFC 3339.")
@click.option("--namespace", help="Jobs of this namespace.")
@click.option("--name-prefix", help="Jobs whose name starts with this (needs --sort name|-name).")
@click.option(
    "--sort",
    type=click.Choice(SORTS),
    help="Order (default -created_at, newest first); by update time or name it takes only "
    "--namespace (and --name-prefix) as filters.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Jobs to show."
)
@click.option("--all", "all_", is_flag=True, help="Every job (page after page), no --limit.")
@click.option("--cursor", help="Go on from a listing's cursor (`next_cursor`).")
@click.option(
    "-w", "--watch", is_flag=True, help="Then a row for each change, until Ctrl-C (exit 0)."
)
@url_option
@token_option
@output_option()
@no_headers_option
def list_jobs(
    url: str,
    token: str | None,
    output: str,
    no_headers: bool,
    label: tuple[str, ...],
    limit: int,
    all_: bool,
    cursor: str | None,
    watch: bool,
    sort: str | None,
    **filters: Any,
) -> None:
    """List jobs, newest first (or --sort): --limit of them (more with --all or --cursor)."""
    filters = drop_unset({**filters, "labels": labels_of(label)})
    ordered = {**filters, "sort": sort} if sort else filters  # a watch has no order of its own

    def run() -> None:
        with connected(url, token) as client:
            kind = JOBS
            if output == "wide":  # the queues' shares: one read for the whole listing
                kind = jobs_with_shares(_queue_shares(client))
            printer = Printer(kind, output, headers=not no_headers)
            if all_ and not watch and cursor is None:
                jobs, next_cursor, watch_cursor = list(client.iter_jobs(**ordered)), None, None
            else:
                jobs, next_cursor, watch_cursor = _pages(
                    client, ordered, None if all_ else limit, cursor
                )
            items = builtins(jobs)
            printer.listing(items, {"items": items, "next_cursor": next_cursor})
            if next_cursor:
                click.echo(
                    f"kjs: more jobs than these {len(jobs)}: --all lists every one, "
                    f"--cursor {next_cursor} the next ones",
                    err=True,
                )
            if not watch:
                return

            def relist() -> tuple[list[Job], str | None]:
                page = client.list(limit=min(limit, MAX_PAGE), **ordered)
                return page.items, page.watch_cursor

            seen = {job.id: _key(job) for job in jobs}
            _follow(client, printer, watch_cursor, filters, seen, relist)

    _until_interrupted(run)


# -- logs, events, cancel, rerun ------------------------------------------------------------


def _queue_shares(client: Client) -> dict[str, float | None]:
    """Each queue's fair share, for `ls -o wide`'s SHARE column: blank when the token may not
    list the queues or the server has no such route."""
    from kjs.client import Forbidden, NotFound

    try:
        return {queue.name: queue.share for queue in client.queues()}
    except (Forbidden, NotFound):
        return {}


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@click.option("--pod")
@click.option("--container")
@click.option("--attempt", type=int, help="An earlier attempt's logs (default: the current).")
@click.option("-f", "--follow", is_flag=True, help="Stream while the job runs.")
@url_option
@token_option
def logs(url: str, token: str | None, job_id: str, follow: bool, **where: Any) -> None:
    """Print a job's collected logs (on stdout; why there are none, on stderr)."""
    with connected(url, token) as client:
        if not follow:
            _show(client.logs(job_id, **where))
            return
        for chunk in client.follow_logs(job_id, **where):
            _show(chunk)


def _show(logs: Logs) -> None:
    """Log text on stdout; why there is none on stderr (stdout stays the logs only)."""
    if logs.note is not None:
        click.echo(f"kjs: {logs.note}", err=True)
    click.echo(logs, nl=False)


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@click.option("-w", "--watch", is_flag=True, help="Then each new event, until the job is final.")
@url_option
@token_option
@output_option()
@no_headers_option
def events(
    url: str, token: str | None, output: str, no_headers: bool, job_id: str, watch: bool
) -> None:
    """A job's status history."""
    printer = Printer(EVENTS, output, headers=not no_headers)

    def run() -> None:
        with connected(url, token) as client:
            if not watch:
                items = [_event(event) for event in client.events(job_id)]
                printer.listing(items, {"items": items})
                return
            for event in client.watch_events(job_id):
                printer.one(_event(event))
                if event.is_final and client.get(job_id).is_final:
                    return

    _until_interrupted(run)


def _event(event: Event) -> dict[str, Any]:
    """An event as the API shows it (with its `seq` only when watching, where it has one)."""
    data: dict[str, Any] = builtins(event)
    if data.get("seq") is None:
        data.pop("seq", None)
    return data


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@url_option
@token_option
@output_option()
@no_headers_option
def cancel(url: str, token: str | None, output: str, no_headers: bool, job_id: str) -> None:
    """Cancel a job."""
    with connected(url, token) as client:
        job = client.cancel(job_id)
    Printer(JOBS, output, headers=not no_headers).one(builtins(job))


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@url_option
@token_option
@output_option()
@no_headers_option
def rerun(url: str, token: str | None, output: str, no_headers: bool, job_id: str) -> None:
    """Run a job again (attempt n+1)."""
    with connected(url, token) as client:
        job = client.rerun(job_id)
    Printer(JOBS, output, headers=not no_headers).one(builtins(job))


# -- clusters -----------------------------------------------------------------------------------


@click.command()
@click.argument("action", type=click.Choice(["ls", "cordon", "uncordon"]), default="ls")
@click.argument("cluster_id", required=False)
@url_option
@token_option
@output_option()
@no_headers_option
def clusters(
    url: str,
    token: str | None,
    output: str,
    no_headers: bool,
    action: str,
    cluster_id: str | None,
) -> None:
    """List clusters, or cordon/uncordon one."""
    printer = Printer(CLUSTERS, output, headers=not no_headers)
    if action != "ls" and cluster_id is None:
        raise click.UsageError(f"clusters {action} needs a cluster id")
    with connected(url, token) as client:
        if action == "ls":
            items = builtins(client.clusters())
            printer.listing(items, {"items": items})
            return
        assert cluster_id is not None
        changed = client.cordon(cluster_id) if action == "cordon" else client.uncordon(cluster_id)
    printer.one(builtins(changed))


# -- queues -------------------------------------------------------------------------------------


@click.command()
@click.argument("name", required=False)
@url_option
@token_option
@output_option()
@no_headers_option
def queues(url: str, token: str | None, output: str, no_headers: bool, name: str | None) -> None:
    """List the queues jobs are submitted to (or show one): where each is defined, its weight,
    limits and namespaces. Define them in the configuration or with `PUT /api/v1/queues/NAME`."""
    printer = Printer(QUEUES, output, headers=not no_headers)
    with connected(url, token) as client:
        if name is not None:
            printer.one(builtins(client.queue(name)))
            return
        items = builtins(client.queues())
    printer.listing(items, {"items": items})


@click.command("priority-classes")
@url_option
@token_option
@output_option()
@no_headers_option
def priority_classes(url: str, token: str | None, output: str, no_headers: bool) -> None:
    """List the priority classes jobs may name (`--priority-class`), highest value first: within
    a queue, jobs of a higher value are placed first. Defined in the server's configuration
    (`[scheduling.priority_classes]`)."""
    printer = Printer(PRIORITY_CLASSES, output, headers=not no_headers)
    with connected(url, token) as client:
        items = builtins(client.priority_classes())
    printer.listing(items, {"items": items})
