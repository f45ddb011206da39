"""For every test: logging as it was before it. A command run in-process (click's CliRunner)
configures the process's logging as `kjs server` would, onto the runner's stream, which is
closed once the command returns; the next tests must not log there."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from kjs.core import logconfig
from kjs.core.logconfig import QUIET


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    before = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET}
    yield
    logconfig.restore(before)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, quiet_level in quiet.items():
        logging.getLogger(name).setLevel(quiet_level)
