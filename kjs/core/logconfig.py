"""How kjs's processes write their own log lines (`[logging] format` and `level`).

One format for everything the process logs: kjs's structlog loggers, kjs's and the libraries'
stdlib loggers (uvicorn, Litestar, SQLAlchemy, the Kubernetes client) all end in one stderr
handler whose formatter renders a structlog event dict — JSON objects (`format = "json"`, for a
log collector) or aligned `key=value` lines (`text`, for a terminal). Context bound with
`structlog.contextvars.bind_contextvars` (the agent binds its cluster) rides on every line of the
task that bound it, stdlib lines included.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, MutableMapping
from typing import IO, TYPE_CHECKING, Any

import msgspec

# structlog.dev imports rich and pygments when they are installed (Litestar installs them), for
# pretty tracebacks kjs does not use: modules a server would hold for nothing. Hidden while
# structlog loads (an import of a name mapped to None raises ImportError), then visible again.
_hidden = [name for name in ("rich", "better_exceptions") if name not in sys.modules]
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]
try:
    import structlog
finally:
    for _name in _hidden:
        if sys.modules.get(_name, sys) is None:
            del sys.modules[_name]

if TYPE_CHECKING:
    from kjs.core.config import LoggingSettings

# Loggers whose INFO lines say nothing an operator acts on, below DEBUG: Alembic lists its
# plugins and every migration at each start; uvicorn's start and stop steps (kjs says when it
# is ready, where, and when it stopped); the Kubernetes client's urllib3 retries are ours to
# report.
QUIET = ("alembic", "uvicorn.error", "urllib3", "kubernetes")
# uvicorn's loggers come with handlers of their own when uvicorn configures them; kjs passes
# `log_config=None`, and these propagate to the root handler like every other.
_THROUGH_ROOT = ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar")


def _drop_color_message(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
    """uvicorn sends each line twice, the second with terminal colours, as an `extra`."""
    event.pop("color_message", None)
    return event


def _rendering(fmt: str) -> list[Any]:
    # A traceback becomes the `exception` field's text first.
    if fmt == "json":
        return [structlog.processors.format_exc_info, _json_line]
    return [structlog.processors.format_exc_info, _text_line]


_encode = msgspec.json.Encoder(enc_hook=str).encode  # a value JSON has no type for: its str()


_FIRST = ("timestamp", "level", "logger", "event", "exception")


def _json_line(_logger: Any, _name: str, event: dict[str, Any]) -> str:
    ordered = {k: event[k] for k in _FIRST[:4] if k in event}  # for a reader's eye
    ordered.update(event)
    return _encode(ordered).decode()


_PLAIN = re.compile(r"[^\s\"'=\\]*")
_BARE = re.compile(r"[\w.:/@+,-]*", re.ASCII)


def _quoted(value: Any, *, bare_spaces: bool = False) -> str:
    """A value as one token of the line: quoted (Python's repr) when it holds a space, a quote,
    `=` or a control character — a job's message must not forge a line or a field."""
    text = value if type(value) is str else str(value)
    if _BARE.fullmatch(text):  # most values (ids, names, states): nothing to check further
        return text
    if _PLAIN.fullmatch(text.replace(" ", "") if bare_spaces else text) and text.isprintable():
        return text
    return repr(text)


def _text_line(_logger: Any, _name: str, event: dict[str, Any]) -> str:
    """`<time> <LEVEL> <logger>: <event> key=value …`, then a traceback's lines if any."""
    fields = " ".join(
        f"{k}={_quoted(v)}" for k, v in event.items() if k not in _FIRST and v is not None
    )
    line = (
        f"{event.get('timestamp', '')} {str(event.get('level', '')).upper():<7} "
        f"{event.get('logger', '')}: {_quoted(event.get('event', ''), bare_spaces=True)}"
    )
    if fields:
        line = f"{line} {fields}"
    exception = event.get("exception")
    return f"{line}\n{exception}" if exception else line


FLUSH_EVERY_S = 0.2
"""How long a line may wait in the stderr buffer (WARNING and worse are written at once)."""


class _Handler(logging.StreamHandler[IO[str]]):
    """The one handler: each line into the stream's buffer, not a write per line (a write per
    job change cost ~5 % of a submit). The buffer is written every `FLUSH_EVERY_S` by a thread,
    at once for a WARNING or worse, and at exit (`logging.shutdown` flushes handlers): a
    process killed with SIGKILL loses at most that long of lines."""

    _flushing: tuple[threading.Event, threading.Thread, float]

    def emit(self, record: logging.LogRecord) -> None:  # the caller holds the lock
        try:
            self.stream.write(self.format(record) + "\n")
            if record.levelno >= logging.WARNING:
                self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def write(self, line: str, *, now: bool = False) -> None:
        """A line rendered by structlog, without a LogRecord (~6 µs a line, ~23 through one)."""
        self.acquire()
        try:
            self.stream.write(line + "\n")
            if now:
                self.flush()
        except Exception:  # a closed or full stderr must not fail the change the line tells
            self.handleError(logging.makeLogRecord({"msg": line}))
        finally:
            self.release()

    def flush_every(self, seconds: float) -> None:
        def loop() -> None:
            while not stopped.wait(seconds):
                self.flush()

        stopped = threading.Event()
        flusher = threading.Thread(target=loop, name="kjs-log-flush", daemon=True)
        flusher.start()
        self._flushing = (stopped, flusher, seconds)

    def stop_flushing(self) -> float | None:
        """Stop the flushing thread (and wait for it); returns its period, if there was one."""
        if not hasattr(self, "_flushing"):
            return None
        stopped, flusher, seconds = self._flushing
        stopped.set()
        flusher.join()
        del self._flushing
        self.flush()
        return seconds

    def close(self) -> None:
        self.stop_flushing()
        super().close()


def _own_handler() -> _Handler | None:
    return next((h for h in logging.getLogger().handlers if isinstance(h, _Handler)), None)


@contextlib.contextmanager
def no_thread_of_ours() -> Iterator[None]:
    """While the process forks (the server migrates in a child): the log flushing thread
    stopped, its buffer written, so that a fork with no other thread is possible and safe; the
    child writes what it logs at once. Started again after."""
    handler = _own_handler()
    seconds = handler.stop_flushing() if handler is not None else None
    try:
        yield
    finally:
        if handler is not None and seconds is not None:
            handler.flush_every(seconds)


def flush() -> None:
    """Write what waits in the log buffer now (a process about to `os._exit`)."""
    handler = _own_handler()
    if handler is not None:
        handler.flush()


class _HandlerWriter:
    """structlog's last stop for kjs's own events: the handler's stream, under its lock, so a
    line never interleaves with a library's."""

    def __init__(self, handler: _Handler, name: str) -> None:
        self.handler = handler
        self.name = name  # for add_logger_name

    def msg(self, line: str) -> None:
        self.handler.write(line)

    def urgent(self, line: str) -> None:
        self.handler.write(line, now=True)

    debug = info = msg
    warning = error = critical = exception = urgent


def _buffered_stderr() -> IO[str]:
    """stderr's file with a buffer of its own (Python's stderr writes each line at once); the
    process's stderr as it is when it is no file (a test's capture)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.stderr
    sys.stderr.flush()
    raw = io.FileIO(os.dup(fd), "w")  # a copy: closing the handler leaves fd 2 open
    return io.TextIOWrapper(io.BufferedWriter(raw, 64 * 1024), errors="backslashreplace")


def configure(settings: LoggingSettings, stream: IO[str] | None = None) -> None:
    """Send every log line of this process to `stream` (stderr) in `settings.format`, from
    `settings.level` up. Called once, by the command that starts a process."""
    global _configured
    out = stream if stream is not None else _buffered_stderr()
    level = logging.getLevelNamesMapping()[settings.level]
    handler = _Handler(out)
    if stream is None:
        handler.flush_every(FLUSH_EVERY_S)
    # Added to kjs's structlog events and to stdlib records alike, before rendering.
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering = _rendering(settings.format)
    structlog.configure(
        processors=[*shared, *rendering],
        logger_factory=lambda name="kjs", *_: _HandlerWriter(handler, name),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,  # a later configure (tests) applies to every logger
    )
    _configured += 1
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        if isinstance(old, _Handler):
            old.close()  # a configure before this one (tests): its flushing thread stops
    root.addHandler(handler)
    root.setLevel(level)
    for name in _THROUGH_ROOT:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
        library.setLevel(logging.NOTSET)
    for name in QUIET:
        logging.getLogger(name).setLevel(
            level if level == logging.DEBUG else max(level, logging.WARNING)
        )


def _as_stdlib_message(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> str:
    fields = " ".join(f"{k}={v}" for k, v in event.items() if k != "event" and v is not None)
    return f"{event.get('event', '')} {fields}".rstrip()


if not structlog.is_configured():
    # Until a kjs process configures its logging (and in a program that embeds kjs: tests, an
    # ASGI host), kjs's events are plain stdlib records of their logger ("kjs.jobs"), handled
    # as the program handles the rest — never structlog's default print to stdout.
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            _as_stdlib_message,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # `configure` replaces this in kjs's own processes
    )


_configured = 0
"""Bumped by each (re)configuration: `_Logger`s bind again after it."""


def restore(config: dict[str, Any]) -> None:
    """structlog's configuration as `structlog.get_config()` read it (a test's teardown)."""
    global _configured
    structlog.configure(**config)
    _configured += 1


class _Logger:
    """A kjs logger: structlog's, bound once per configuration. structlog's own lazy logger
    binds on every call (a third of a line's cost, and a line per submitted job); caching it
    structlog's way would keep a test's configuration after the test."""

    __slots__ = ("_bound", "_name", "_seen")

    def __init__(self, name: str) -> None:
        self._name = name
        self._seen = -1
        self._bound: Any = None

    def _logger(self) -> Any:
        if self._seen != _configured:
            self._bound, self._seen = structlog.get_logger(self._name).bind(), _configured
        return self._bound

    def debug(self, event: str, **fields: Any) -> None:
        self._logger().debug(event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._logger().info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._logger().warning(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._logger().error(event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._logger().exception(event, **fields)


def get_logger(name: str) -> _Logger:
    """A logger for kjs's own events (import structlog through here: see above)."""
    return _Logger(name)


def bound(**context: Any) -> Any:
    """A context manager: lines logged meanwhile, and by tasks created meanwhile, carry
    `context` (the agent's cluster)."""
    return structlog.contextvars.bound_contextvars(**context)
