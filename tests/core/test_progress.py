"""Progress is a bar on a terminal and plain periodic lines in a file or a pipe."""

from __future__ import annotations

import io

from bit_finetune.core import progress
from bit_finetune.core.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_whole_lines_at_most_every_interval(monkeypatch):
    monkeypatch.delenv(progress.INTERVAL_VARIABLE, raising=False)  # the default, 30 s
    stream = io.StringIO()
    clock = iter(range(0, 1000, 10))  # each update 10 s after the previous one
    monkeypatch.setattr("tqdm.std.time", lambda: next(clock))
    with progress_bar(total=9, desc="profiling", unit="img", file=stream) as bar:
        for _ in range(9):
            bar.update(1)
        bar.set_postfix({"loss": 0.5}, refresh=False)
    lines = stream.getvalue().splitlines(keepends=True)
    assert "\r" not in stream.getvalue() and all(line.endswith("\n") for line in lines)
    assert lines[0].startswith("profiling:   0%") and "9/9" in lines[-1]
    assert 3 <= len(lines) <= 1 + 9 * 10 // progress.PIPED_INTERVAL + 1  # not one per update


def test_the_interval_is_the_users_to_set(monkeypatch):
    monkeypatch.setenv(progress.INTERVAL_VARIABLE, "0")
    stream = io.StringIO()
    for _ in progress_bar(range(5), desc="train", file=stream):
        pass
    assert [line.split("|")[-1].split()[0] for line in stream.getvalue().splitlines()] == [
        "0/5", "1/5", "2/5", "3/5", "4/5", "5/5"]


def test_a_terminal_keeps_the_bar():
    stream = Terminal()
    for _ in progress_bar(range(3), desc="train", file=stream, mininterval=0):
        pass
    assert "\r" in stream.getvalue() and "3/3" in stream.getvalue()


def test_disabled_writes_nothing():
    stream = io.StringIO()
    for _ in progress_bar(range(3), file=stream, disable=True):
        pass
    assert stream.getvalue() == ""
