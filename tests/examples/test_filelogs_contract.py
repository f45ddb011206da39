"""The example files sink (`examples/kjs-filelogs`), installed and selected by configuration as
a user would (`log_sink = "files"`, `[filelogs] directory`), against kjs's log-sink contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from kjs.core import components
from kjs.core.config import load
from kjs.core.protocols import LogSink
from kjs.testing.contracts.log_sink import LogSinkContract


def configured_sink(tmp_path: Path) -> LogSink:
    settings = load(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "log_sink": "files",
            "filelogs": {"directory": str(tmp_path / "filelogs")},
        },
    )
    return components.build(settings).log_sink


class TestFilesSinkSelectedByConfiguration(LogSinkContract):
    @pytest.fixture
    def log_sink(self, tmp_path: Path) -> LogSink:
        return configured_sink(tmp_path)


async def test_its_chunks_land_in_the_configured_directory(tmp_path: Path) -> None:
    sink = configured_sink(tmp_path)
    assert await sink.append("job-1", 1, "job-1-pod", "main", 0, b"hello\n", False)
    chunk = tmp_path / "filelogs" / "job-1" / "1" / "job-1-pod" / "main" / "0.log"
    assert chunk.read_bytes() == b"hello\n"
    assert not (tmp_path / "data" / "filelogs").exists()
