"""`kjs ls --namespace --name-prefix --sort` against a real server, and the SDK underneath."""

from __future__ import annotations

from kjs.client import Client
from tests.cli.support import run, submit
from tests.live import LiveServer


def test_ls_by_namespace_name_prefix_and_sort(server: LiveServer) -> None:
    for name, namespace in (("web-b", "ops"), ("web-a", "ops"), ("api", "ops"), ("web-c", "dev")):
        submit(server, name, namespace=namespace)

    def names(*args: str) -> list[str]:
        result = run(server, "ls", *args, "-o", "jsonpath={.items[*].name}")
        assert result.exit_code == 0, result.stderr
        return result.stdout.split()

    assert names("--namespace", "ops") == ["api", "web-a", "web-b"]
    assert names("--namespace", "ops", "--sort", "name") == ["api", "web-a", "web-b"]
    assert names("--name-prefix", "web-", "--sort", "-name") == ["web-c", "web-b", "web-a"]
    assert names("--sort", "created_at", "--limit", "2") == ["web-b", "web-a"]
    refused = run(server, "ls", "--name-prefix", "web")  # by creation: not a name's order
    assert refused.exit_code != 0 and "sort" in refused.stderr
    with Client(server.url) as client:
        every = client.iter_jobs(name_prefix="web", namespace="ops", sort="name", page_size=1)
        assert [job.name for job in every] == ["web-a", "web-b"]
