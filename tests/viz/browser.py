"""The mark of the tests that drive headless Chromium."""

from __future__ import annotations

import pytest
from headless_chromium import chromium_path

NEEDS_CHROMIUM = pytest.mark.skipif(
    chromium_path() is None,
    reason="headless browser test needs Chromium: apt-get install -y chromium "
    "(.ci/run installs it)",
)
