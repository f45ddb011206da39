"""A followed log's `[kjs: …]` lines before any log are notes (why there is none): the SDK
yields them apart, as `Logs("", note)`, so that `kjs logs -f` prints them on stderr."""

from __future__ import annotations

from kjs.client._logs import FollowedLogs, Logs, read_logs


def split(chunks: list[str]) -> tuple[str, list[str]]:
    followed = FollowedLogs()
    items = [item for c in [*chunks, None] for item in followed.feed(c)]
    return "".join(items), [i.note for i in items if i.note is not None]


def test_a_note_alone_is_a_note_even_cut_in_pieces() -> None:
    assert split(["[kjs: no logs ", "kept]", "\n"]) == ("", ["no logs kept"])


def test_logs_stay_logs_with_their_own_kjs_lines() -> None:
    chunks = ["==> p/c <==\nhe", "llo\n[kjs: the log of p/c was cut at 10 bytes]\n"]
    assert split(chunks) == ("".join(chunks), [])


def test_a_line_without_its_newline_at_the_end() -> None:
    assert split(["==> p/c <==\npartial"]) == ("==> p/c <==\npartial", [])
    assert split(["[kjs: stopping]"]) == ("", ["stopping"])


def test_an_answer_with_the_note_header_is_no_log() -> None:
    logs = read_logs(b"[kjs: why]\n", {"X-Kjs-Logs-Note": "why"})
    assert (logs, logs.note) == ("", "why")
    logs = read_logs(b"==> p/c <==\nhi\n", {})
    assert (logs, logs.note) == ("==> p/c <==\nhi\n", None) and isinstance(logs, Logs)
