"""The files sink against kjs's log-sink contract, and what the files hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from kjs_filelogs import FileLogSink

from kjs.core.backends import BuildContext
from kjs.core.config import load
from kjs.core.plugins import Plugins
from kjs.testing.contracts.log_sink import LogSinkContract


class TestFileLogSink(LogSinkContract):
    @pytest.fixture
    def log_sink(self, tmp_path: Path) -> FileLogSink:
        return FileLogSink(tmp_path / "logs")


async def test_each_chunk_is_a_file_that_holds_its_bytes(tmp_path: Path) -> None:
    sink = FileLogSink(tmp_path)
    assert await sink.append("job-1", 1, "job-1-abcde", "main", 0, b"hello\n", False)
    assert await sink.append("job-1", 1, "job-1-abcde", "main", 1, b"world\n", True)
    folder = tmp_path / "job-1" / "1" / "job-1-abcde" / "main"
    assert (folder / "0.log").read_bytes() + (folder / "1.log").read_bytes() == b"hello\nworld\n"
    assert (folder / "1.cut").exists()


def test_the_section_picks_the_directory(tmp_path: Path) -> None:
    settings = load(
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "log_sink": "files",
            "filelogs": {"directory": str(tmp_path / "elsewhere")},
        },
    )
    sink = Plugins().backend("log_sink", settings.log_sink).factory(BuildContext(settings))
    assert isinstance(sink, FileLogSink) and sink.directory == tmp_path / "elsewhere"
