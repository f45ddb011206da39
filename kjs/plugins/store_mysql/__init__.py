"""`store = "mysql"`: MySQL or MariaDB through SQLAlchemy and PyMySQL (`[mysql] url`)."""

from __future__ import annotations

import sqlalchemy as sa

from kjs.core.backends import Backend, BuildContext, SettingsSection
from kjs.core.config import ConfigError, MysqlSettings
from kjs.core.hookspecs import hookimpl
from kjs.sqlstore.store import SqlStore


def engine_for(url: str, pool_size: int = 10) -> sa.Engine:
    try:
        import pymysql  # noqa: F401 - fail here, naming the extra, not deep in SQLAlchemy
    except ImportError as e:
        raise ConfigError("store = 'mysql' needs PyMySQL: pip install 'kjs[mysql]'") from e
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,  # a restarted server's dead connections are replaced, not raised
        pool_recycle=3600,
        isolation_level="READ COMMITTED",  # no gap locks between concurrent inserts
    )


def make_store(context: BuildContext) -> SqlStore:
    mysql = context.settings.section("mysql", MysqlSettings)
    if not mysql.url:
        raise ConfigError("mysql.url: required when store = 'mysql'")
    url = sa.make_url(mysql.url)
    return SqlStore(
        engine_for(mysql.url, mysql.pool_size),
        describe=f"MySQL at {url.host}:{url.port or 3306}/{url.database}",
        plugins=context.plugins,
        default_requests=context.settings.scheduling.default_requests.requests(),
    )


@hookimpl
def register_settings() -> list[SettingsSection]:
    return [SettingsSection("mysql", MysqlSettings, "the MySQL/MariaDB store's database")]


@hookimpl
def register_stores() -> list[Backend]:
    return [Backend("store", "mysql", make_store, "MySQL/MariaDB (SQLAlchemy + PyMySQL)")]
