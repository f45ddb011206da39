"""Queue messages that cannot be read: one error for every reader, whatever msgspec says."""

from __future__ import annotations

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
