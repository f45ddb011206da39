"""The MariaDB tier: a real server reached through SQLAlchemy and PyMySQL."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kjs.testing.pytest_plugin import TestEnvironment

pytestmark = pytest.mark.mysql


@pytest.fixture
def engine(mysql_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(mysql_url)
    yield engine
    engine.dispose()


def test_a_transaction_commits_and_a_rolled_back_one_leaves_no_trace(engine: sa.Engine) -> None:
    table = sa.Table(
        "probe",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note", sa.String(40)),
    )
    table.drop(engine, checkfirst=True)
    table.create(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1, "note": "kept"}])
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 2, "note": "rolled back"}])
            raise RuntimeError("abort the transaction")
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.id, table.c.note)).all()
        assert [tuple(r) for r in rows] == [(1, "kept")]
    finally:
        table.drop(engine)


def test_it_is_mariadb_with_innodb_and_utf8mb4(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT VERSION()")).scalar_one()
        charset = conn.execute(sa.text("SELECT @@character_set_server")).scalar_one()
        conn.execute(sa.text("CREATE TEMPORARY TABLE t (s VARCHAR(8)) ENGINE=InnoDB"))
        conn.execute(sa.text("INSERT INTO t VALUES (:s)"), {"s": "héllo🚀"})
        assert conn.execute(sa.text("SELECT s FROM t")).scalar_one() == "héllo🚀"
    assert "MariaDB" in version
    assert charset == "utf8mb4"


def test_the_admin_url_can_create_databases(mysql_env: dict[str, str]) -> None:
    admin = sa.create_engine(mysql_env["admin_url"])
    try:
        with admin.begin() as conn:
            conn.execute(sa.text("CREATE DATABASE IF NOT EXISTS kjs_scratch"))
            conn.execute(sa.text("DROP DATABASE kjs_scratch"))
    finally:
        admin.dispose()


def test_a_crashed_server_comes_back_on_its_address_with_its_data(
    engine: sa.Engine, testenv_session: TestEnvironment
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS survivor (id INT PRIMARY KEY)"))
        conn.execute(sa.text("DELETE FROM survivor"))
        conn.execute(sa.text("INSERT INTO survivor VALUES (7)"))
    try:
        testenv_session.restart("mysql", signal.SIGKILL)
        engine.dispose()  # the pool's connections died with the server
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM survivor")).scalar_one() == 7
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE survivor"))
