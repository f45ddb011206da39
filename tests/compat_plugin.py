"""Whether this run has the compat plugin: `KJS_DISABLE_PLUGINS=compat` runs the suite without
it, and the tests of its routes and command are skipped then."""

from __future__ import annotations

import pytest

from kjs.core.plugins import Plugins

COMPAT = "kjs.plugins.compat" in {p.name for p in Plugins(autoload=False).plugins()}

needs_compat = pytest.mark.skipif(
    not COMPAT, reason="the compat plugin is disabled (KJS_DISABLE_PLUGINS)"
)
