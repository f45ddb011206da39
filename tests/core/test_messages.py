"""Queue messages that cannot be read: one error for every reader, whatever msgspec says."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from kjs.core import messages


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "heartbeat", "v": 1, "cluster_id": "\xff\xfe"}',  # not UTF-8
        b"\xff",
        b"not json",
        b'{"type": "no such type", "v": 1}',
    ],
)
def test_an_unreadable_message_is_a_decode_error(body: bytes) -> None:
    # The consumer and the agent drop a message on DecodeError; anything else would be retried
    # for ever. msgspec before 0.23 raised UnicodeDecodeError for bytes that are not UTF-8.
    with pytest.raises(msgspec.DecodeError):
        messages.decode(body)


class Older:
    """A decoder as msgspec 0.22's: bytes that are not UTF-8 raise UnicodeDecodeError."""

    def decode(self, body: bytes) -> Any:
        return body.decode()


def test_what_an_older_msgspec_raises_is_a_decode_error_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(messages, "_decoder", Older())
    with pytest.raises(msgspec.DecodeError, match="not UTF-8"):
        messages.decode(b'{"type": "heartbeat", "cluster_id": "\xff"}')
