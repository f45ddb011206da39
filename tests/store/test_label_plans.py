"""The jobs list reads its filters one of several ways (`SqlStore._indexed`): the rarest filter
under RARE_FILTER jobs drives (read whole from its index), or, every filter being common, the
sort's order is walked through the most specific ordered index and the other filters are
checked row by row (on MariaDB, sorted by creation, each in its own index, joined). Whichever
way, a list gives the same jobs, in the same order, with the same cursors."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import msgspec
import pytest

from kjs.core.records import JobRecord
from kjs.core.states import JobState
from kjs.sqlstore import store as sqlstore
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.store import NOW, make_job
from tests.store.test_store_contract import migrated, store  # noqa: F401  (fixtures)

STATES = [JobState.SUCCEEDED, JobState.FAILED, JobState.RUNNING]
# Pairs of filters, alone and together, some with an empty intersection (team=web is only on
# even jobs, namespace b only on odd ones).
FILTERS: list[dict[str, Any]] = [
    {},
    {"state": "failed"},
    {"namespace": "b"},
    {"cluster_id": "c1"},
    {"labels": {"team": "web"}},
    {"labels": {"team": "web", "tier": "1"}},
    {"name_prefix": "job-1"},
    {"namespaces": ["a", "c"]},
    {"created_after": NOW + dt.timedelta(seconds=4)},
    {"state": "failed", "cluster_id": "c1"},
    {"state": "running", "namespace": "b", "labels": {"team": "data"}},
    {"namespace": "b", "labels": {"team": "web"}},  # none
    {
        "cluster_id": "c2",
        "labels": {"team": "data"},
        "created_before": NOW + dt.timedelta(seconds=9),
    },
    {"namespaces": ["a", "b"], "state": "succeeded", "cluster_id": "c0"},
    {"namespace": "b", "name_prefix": "job-1"},
    {"namespaces": ["b"], "namespace": "a"},  # none: outside the token's
    {"namespaces": [], "state": "failed"},  # a token of no namespace: none
    # Each column checked in its own index (MariaDB, by creation) at least once:
    {"namespace": "a", "state": "failed", "name": "job-10"},
    {"namespace": "a", "state": "failed", "cron_id": "none"},
    {"labels": {"team": "web"}, "namespace": "a", "cluster_id": "c1", "state": "succeeded"},
]
SORTS = ["-created_at", "created_at", "-updated_at", "updated_at", "name", "-name"]
KEYS = {
    "created_at": lambda j: (j.created_at, j.id),
    "updated_at": lambda j: (j.updated_at, j.id),
    "name": lambda j: (j.spec.name, j.created_at, j.id),
}


def _jobs(db: SqlStore) -> list[JobRecord]:
    made = []
    for n in range(14):
        job = make_job(
            n,
            state=STATES[n % 3],
            cluster_id=f"c{n % 3}" if n % 5 else None,
            updated_at=NOW + dt.timedelta(seconds=20 - n // 2),  # ties, broken by id
        )
        spec = msgspec.structs.replace(
            job.spec,
            name=f"job-{n % 4 + 9}",  # job-9 … job-12: shared names
            namespace="ab"[n % 2] if n % 7 else "c",
            labels={"team": "web" if n % 2 == 0 else "data", **({"tier": "1"} if n % 3 else {})},
        )
        made.append(db.create_job(msgspec.structs.replace(job, spec=spec)))
    return made


def _walk(db: SqlStore, sort: str, filters: dict[str, Any]) -> list[tuple[list[str], Any]]:
    pages, cursor = [], None
    while True:
        page, cursor = db.list_jobs(limit=2, cursor=cursor, sort=sort, **filters)
        pages.append(([j.id for j in page], cursor))
        if cursor is None:
            return pages


def test_every_plan_lists_the_same_jobs_in_the_same_order(
    store: SqlStore,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = _jobs(store)
    for filters, sort in itertools.product(FILTERS, SORTS):
        by = sort.lstrip("-")
        wanted = sorted(
            (j for j in jobs if sqlstore._matches(j, **filters)),
            key=KEYS[by],
            reverse=sort.startswith("-"),
        )
        walks = {}
        # 1: no filter is rare (the sort's order is walked); 10^9: each is (the rarest drives);
        # 4: some are, some are not.
        for rare in (1, 4, 10**9):
            monkeypatch.setattr(sqlstore, "RARE_FILTER", rare)
            walks[rare] = _walk(store, sort, filters)
            seen = [i for ids, _ in walks[rare] for i in ids]
            assert seen == [j.id for j in wanted], (filters, sort, rare)
        assert walks[1] == walks[4] == walks[10**9], (filters, sort)  # the same cursors too


def test_a_rare_filter_drives_and_common_ones_walk_the_sort_s_order(
    store: SqlStore,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _jobs(store)
    monkeypatch.setattr(sqlstore, "RARE_FILTER", 4)
    # 5 failed jobs, 9 of tier 1: both common, walked by creation through the state's index.
    assert store._indexed("-created_at", {"state": "failed", "labels": {"tier": "1"}}) == {"state"}
    # No job in c9, none labelled team=none: the rarest drives.
    assert store._indexed("-created_at", {"cluster_id": "c9", "state": "failed"}) == {"cluster_id"}
    assert store._indexed("-created_at", {"labels": {"team": "none"}, "state": "failed"}) == {
        "label:team"
    }
    # One filter with the sort's order: its index, not counted.
    assert store._indexed("-created_at", {"namespace": "a", "state": "succeeded"}) == {
        "namespace",
        "state",
    }
    assert store._indexed("name", {"namespace": "a", "name_prefix": "job"}) == {
        "namespace",
        "name_prefix",
    }
    # A common label alone: the sort's own index, the label checked row by row.
    assert store._indexed("-created_at", {"labels": {"team": "web"}}) == frozenset()
