"""The notifier contract suite (`kjs.testing.contracts.notifier`) over the built-in `http`
notifier (`callback_http`), against the suite's receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kjs.core.config import WebhookSettings
from kjs.plugins.callback_http import HttpNotifier
from kjs.testing.contracts.notifier import *  # noqa: F403


@pytest.fixture
def notifier_factory() -> Callable[[str, float], HttpNotifier]:
    return lambda secret, timeout_s: HttpNotifier(
        WebhookSettings(secret=secret, timeout_s=timeout_s, allow_private=True)
    )
