"""Fixtures shared by the store tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kjs.plugins.store_mysql import engine_for as mysql_engine
from kjs.plugins.store_sqlite import engine_for as sqlite_engine
from tests.deployment import fresh_database


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A new, empty database."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            engine = sqlite_engine(str(tmp_path / "kjs.db"))
        else:
            url = stack.enter_context(
                fresh_database(request.getfixturevalue("mysql_env")["admin_url"])
            )
            engine = mysql_engine(url)
        stack.callback(engine.dispose)
        yield engine
