"""The first SIGINT or SIGTERM asks training to stop; the next one stops at once."""

from __future__ import annotations

import os
import signal

import pytest

from bit_finetune.runtime.interrupts import SIGNALS, StopRequests


@pytest.mark.parametrize("number", SIGNALS)
def test_the_first_signal_is_a_request_and_the_next_one_is_left_to_the_system(number, caplog):
    before = {other: signal.getsignal(other) for other in SIGNALS}
    with StopRequests() as stop:
        assert stop.signal is None
        os.kill(os.getpid(), number)
        assert stop.signal == number
        assert all(signal.getsignal(other) == signal.SIG_DFL for other in SIGNALS)
    assert {other: signal.getsignal(other) for other in SIGNALS} == before
    assert "stopping at the next step boundary to save a checkpoint" in caplog.text
