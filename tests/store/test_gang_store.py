"""The store's side of gangs on SQLite and MariaDB: a gang's members share one placement key
(due together, apart from the other jobs of their queue and route), and `gang_holder` finds an
unfinished member of a gang in its namespace only."""

from __future__ import annotations

import msgspec

from kjs.core.states import JobState
from kjs.sqlstore.store import SqlStore
from kjs.testing.contracts.store import NOW, make_job
from tests.store.test_store_contract import migrated

__all__ = ["migrated"]


def test_a_gangs_members_share_a_key_and_its_id_is_held_while_one_is_unfinished(
    migrated: SqlStore,
) -> None:
    store = migrated
    gang = msgspec.structs.replace(make_job(0).spec, gang="g-store", gang_size=2)
    members = [make_job(n, spec=gang) for n in (1, 2)]
    alone = make_job(3)
    for job in (*members, alone):
        store.create_job(job)
    keys = dict(store.due_placement_keys(NOW))
    gang_keys = [k for k in keys if k is not None and '"g":"g-store"' in k]
    assert len(gang_keys) == 1 and keys[gang_keys[0]] == 2
    assert store.gang_holder("ops", "g-store") in {m.id for m in members}
    assert store.gang_holder("other", "g-store") is None
    for member in members:
        store.update_job(member.id, lambda j: msgspec.structs.replace(j, state=JobState.CANCELLED))
    assert store.gang_holder("ops", "g-store") is None
