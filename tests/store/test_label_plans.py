"""A label filter is read one of two ways (`SqlStore._common_labels`): from the label index for a
label of few jobs, row by row in the list's order for one of many. Both give the same pages."""

from __future__ import annotations

import msgspec
import pytest

from kjs.sqlstore import store as sqlstore
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.store import make_job
from tests.store.test_store_contract import migrated, store  # noqa: F401  (fixtures)


@pytest.mark.parametrize("common_from", [1, 10**9], ids=["row-by-row", "label-index"])
def test_a_label_filter_pages_alike_either_way(
    store: SqlStore,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    common_from: int,
) -> None:
    monkeypatch.setattr(sqlstore, "COMMON_LABEL", common_from)
    wanted = []
    for n in range(7):
        job = make_job(n)
        team = "data" if n % 2 else "web"
        spec = msgspec.structs.replace(job.spec, labels={"team": team, "tier": "1"})
        stored = store.create_job(msgspec.structs.replace(job, spec=spec))
        if team == "data":
            wanted.append(stored.id)
    for sort, order in (("-created_at", wanted[::-1]), ("created_at", wanted)):
        seen, cursor = [], None
        while True:
            labels = {"team": "data", "tier": "1"}
            page, cursor = store.list_jobs(limit=2, cursor=cursor, sort=sort, labels=labels)
            seen += [job.id for job in page]
            if cursor is None:
                break
        assert seen == order
    assert store.list_jobs(limit=5, labels={"team": "nobody"})[0] == []
