"""A kjs logger binds once per configuration: lines go where the latest one says."""

from __future__ import annotations

import io

from kjs.core import logconfig
from kjs.core.config import LoggingSettings


def test_a_logger_follows_each_new_configuration() -> None:
    log = logconfig.get_logger("kjs.jobs")  # like a module's: made before any configure
    first, second = io.StringIO(), io.StringIO()

    logconfig.configure(LoggingSettings(), stream=first)
    log.info("job accepted", job_id="a")
    logconfig.configure(LoggingSettings(format="json", level="WARNING"), stream=second)
    log.info("job accepted", job_id="b")  # below the new level
    log.warning("cluster silent", cluster="c1")

    assert "job accepted job_id=a" in first.getvalue()
    assert "job_id=b" not in first.getvalue() + second.getvalue()
    assert '"event":"cluster silent"' in second.getvalue()
    assert "cluster silent" not in first.getvalue()


def test_values_that_could_forge_a_line_are_quoted() -> None:
    out = io.StringIO()
    logconfig.configure(LoggingSettings(), stream=out)
    logconfig.get_logger("kjs.jobs").info(
        "job state changed", job_id="j-1", message="ok\nINFO kjs.jobs: forged state=x", by="a b"
    )
    line = out.getvalue()
    assert line.count("\n") == 1
    assert "job_id=j-1 " in line
    assert "message='ok\\nINFO kjs.jobs: forged state=x'" in line
    assert "by='a b'" in line
