"""`kjs clusters` shows what each cluster has free, as its agent reports it."""

from __future__ import annotations

import datetime as dt

from kjs.core import messages
from tests.cli.support import ScriptedAgent, run
from tests.live import LiveServer

GI = 1 << 30


def test_clusters_show_free_cpu_and_memory_of_allocatable(
    server: LiveServer, agent: ScriptedAgent
) -> None:
    agent.heartbeat(
        allocatable=messages.ResourceAmounts(cpu_millis=8000, memory_bytes=32 * GI, pods=110),
        free=messages.ResourceAmounts(cpu_millis=6750, memory_bytes=31 * GI + GI // 2, pods=99),
        largest_free_node=messages.ResourceAmounts(cpu_millis=6750, memory_bytes=31 * GI, pods=99),
        resources_at=dt.datetime.now(dt.UTC),
        resources_partial=True,
    )
    header, row = run(server, "clusters").stdout.splitlines()
    cells = dict(zip(header.replace(" FREE", "_FREE").split(), row.split(), strict=False))
    assert (cells["CPU_FREE"], cells["MEMORY_FREE"]) == ("~6.75/8", "~31.5Gi/32Gi")
    wide_header, wide_row = run(server, "clusters", "-o", "wide").stdout.splitlines()
    assert "PODS FREE" in wide_header and "~99/110" in wide_row.split()
    assert "PODS FREE" not in header
    agent.heartbeat()  # an agent that reports no resources: blank cells, no error
    assert run(server, "clusters").exit_code == 0
