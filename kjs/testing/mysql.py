"""MariaDB for the store tests: Debian's server binary on a throwaway datadir, loopback only."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kjs.testing import procs

DATABASE = "kjs_test"
USER = "kjs"
ADMIN_USER = "kjs_admin"


def _find(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise procs.NotReadyError(
            f"{name} not found: install Debian's mariadb-server (`apt-get install mariadb-server`;"
            " .ci/run does this)"
        )
    return path


def _sql(socket_path: Path, statements: list[str]) -> None:
    import pymysql

    conn = pymysql.connect(unix_socket=str(socket_path), user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def probe(directory: Path) -> Callable[[], bool]:
    """Readiness of the mariadbd that `up(directory)` started."""

    def accepts_connections() -> bool:
        _sql(directory / "mysql" / "mysqld.sock", ["SELECT 1"])
        return True

    return accepts_connections


def up(directory: Path) -> dict[str, Any]:
    """Start a private mariadbd; returns the `mysql` section of env.json."""
    root = directory / "mysql"
    data = root / "data"
    root.mkdir(parents=True, exist_ok=True)
    socket_path = root / "mysqld.sock"
    # --no-defaults everywhere: nothing from /etc/mysql, and no system instance is touched.
    subprocess.run(
        [
            _find("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    port = procs.free_port()
    proc = procs.start(
        directory,
        "mysql",
        [
            _find("mariadbd"),
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--bind-address=127.0.0.1",
            f"--port={port}",
            f"--socket={socket_path}",
            f"--pid-file={root / 'mysqld.pid'}",
            f"--tmpdir={root}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--max-connections=500",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            # A test database: durability against power loss is not what these tests check.
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-buffer-pool-size=256M",
            "--innodb-doublewrite=0",
        ],
    )

    procs.wait_ready(proc, probe(directory), timeout=60)
    password, admin_password = secrets.token_hex(12), secrets.token_hex(12)
    _sql(
        socket_path,
        [
            f"CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4",
            f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}'",
            f"GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{USER}'@'127.0.0.1'",
            f"CREATE USER '{ADMIN_USER}'@'127.0.0.1' IDENTIFIED BY '{admin_password}'",
            f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'127.0.0.1' WITH GRANT OPTION",
        ],
    )
    return {
        "url": f"mysql+pymysql://{USER}:{password}@127.0.0.1:{port}/{DATABASE}",
        "admin_url": f"mysql+pymysql://{ADMIN_USER}:{admin_password}@127.0.0.1:{port}/",
    }
