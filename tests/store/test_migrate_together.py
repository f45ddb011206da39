"""Server replicas that start at the same moment on a new MySQL database all come up: the
migration runs once, under a lock, while the others wait and then find the schema current."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from kjs.plugins.store_mysql import engine_for
from kjs.sqlstore.store import SqlStore
from tests.compat_plugin import COMPAT
from tests.deployment import fresh_database

pytestmark = pytest.mark.mysql

SCRIPT_HEADS = ["0015", "compat_0001"] if COMPAT else ["0015"]


@pytest.mark.parametrize("round_", range(5))
def test_four_replicas_migrating_a_new_database_at_once_all_succeed(
    mysql_env: dict[str, str], round_: int
) -> None:
    with fresh_database(mysql_env["admin_url"]) as url:
        stores = [SqlStore(engine_for(url), describe="mysql") for _ in range(4)]
        start, errors = threading.Barrier(len(stores)), []

        def migrate(store: SqlStore) -> None:
            start.wait()
            try:
                store.migrate()
            except Exception as e:
                errors.append(e)

        threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        try:
            assert errors == []
            with stores[0].engine.connect() as conn:
                versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
            # one head per branch (kjs's own, the compat plugin's), each recorded once
            assert sorted(v for (v,) in versions) == sorted(SCRIPT_HEADS)
        finally:
            for s in stores:
                s.close()
