"""A job's log as the SDK returns it: the log text alone, and apart from it the server's note
saying why there is none (`log_collect` and the outcome)."""

from __future__ import annotations

from collections.abc import Mapping

LOGS_NOTE_HEADER = "X-Kjs-Logs-Note"
_NOTE_START, _NOTE_END = "[kjs: ", "]"


class Logs(str):
    """Log text (a `str`: each pod's log introduced by a `==> pod/container <==` line). `note`:
    why there is none to show, as the server says it (e.g. `no logs kept: log_collect is
    "on_failure" and the job succeeded; …`), else None. The server's answer carries the note
    as its one `[kjs: …]` line too; it is not part of the text."""

    note: str | None = None

    def __new__(cls, text: str = "", note: str | None = None) -> Logs:
        logs = super().__new__(cls, text)
        logs.note = note
        return logs


def read_logs(body: bytes, headers: Mapping[str, str]) -> Logs:
    """A `GET …/logs` answer: a note (its header) means the body is that note's line only."""
    note = headers.get(LOGS_NOTE_HEADER)
    if note is not None:
        return Logs("", note)
    return Logs(body.decode("utf-8", errors="replace"))


class FollowedLogs:
    """A followed log's text, chunk by chunk, with the `[kjs: …]` lines that come before any
    log taken out as notes (the server says why there is nothing at the end of such a follow,
    when it knows). Every log begins with its `==> pod/container <==` line, so only the first
    line is held back; past it, text passes as it comes."""

    def __init__(self) -> None:
        self._held = ""
        self._in_logs = False

    def feed(self, text: str | None) -> list[Logs]:
        """What `text` (None: the stream ended) makes ready: log text, and notes (`Logs("",
        note)`)."""
        if self._in_logs:
            return [Logs(text)] if text else []
        self._held += text or ""
        out: list[Logs] = []
        while not self._in_logs:
            line, newline, rest = self._held.partition("\n")
            if not newline and text is not None:
                return out  # the line is not complete yet
            if line.startswith(_NOTE_START) and line.endswith(_NOTE_END):
                out.append(Logs("", line[len(_NOTE_START) : -len(_NOTE_END)]))
                self._held = rest
            else:
                self._in_logs = True
            if not self._held:
                return out
        held, self._held = self._held, ""
        out.append(Logs(held))
        return out
