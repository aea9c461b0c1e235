"""The progress display: plain lines for logs and pipes, one live status line on a terminal (checked in a
real 80-column terminal, tmux), colour only where wanted."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from gomatrix.core.kinds import Status
from gomatrix.run.progress import DETAIL_LIMIT, Progress, finished_line, wants_live_display
from tests.conftest import ROOT

SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour and other text attributes
ANY_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class TerminalStream(io.StringIO):
    """A stream that says it is a terminal, as sys.stdout does in one."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def colour_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A colour terminal of 80 columns, whatever the environment running the tests is."""
    for name in ("NO_COLOR", "GITHUB_ACTIONS", "COLORTERM", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")


def test_plain_lines_are_exact() -> None:
    out = io.StringIO()
    progress = Progress(3, stream=out, live=False)
    progress.started(["array--go1.24.11--amd64", "array--go1.24.11--arm64"])
    progress.log("gomatrix: a log line")
    progress.finished("array--go1.24.11--arm64", Status.TIMEOUT, 1800.04, detail="no result after 1800 s\nkilled")
    progress.finished("array--go1.24.11--amd64", Status.OK, 4.2)
    progress.finished("makevar--go1.24.11--amd64", Status.SKIPPED, 0.0, detail="x" * 500, cached=True)
    progress.close()
    assert out.getvalue().splitlines()[:6] == [
        "[0/3] array--go1.24.11--amd64: running",
        "[0/3] array--go1.24.11--arm64: running",
        "gomatrix: a log line",
        "[1/3] array--go1.24.11--arm64: timeout in 1800.0 s: no result after 1800 s killed",
        "[2/3] array--go1.24.11--amd64: ok in 4.2 s",
        f"[3/3] makevar--go1.24.11--amd64: skipped from the result cache: {'x' * DETAIL_LIMIT}",
    ]
    assert re.fullmatch(r"\[3/3\] finished in \d+\.\d s\n", out.getvalue().splitlines(keepends=True)[6])
    assert progress.done == progress.total == 3


def test_plain_lines_have_no_escape_codes_even_with_colour_available(colour_terminal: None) -> None:
    out = io.StringIO()
    progress = Progress(1, stream=out)
    progress.started(["array--go1.24.11--amd64"])
    progress.finished("array--go1.24.11--amd64", Status.FAILED, 3.0, detail="does not compile")
    progress.close()
    assert "\x1b" not in out.getvalue()
    assert out.getvalue().splitlines()[1] == "[1/1] array--go1.24.11--amd64: failed in 3.0 s: does not compile"


def test_which_streams_get_the_live_display(colour_terminal: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert wants_live_display(TerminalStream())
    assert not wants_live_display(io.StringIO())  # a pipe or a file: CI logs
    assert not wants_live_display(TerminalStream(), {"GITHUB_ACTIONS": "true", "TERM": "xterm"})
    assert not wants_live_display(TerminalStream(), {"TERM": "dumb"})
    assert wants_live_display(TerminalStream(), {"GITHUB_ACTIONS": "false", "TERM": "xterm"})
    # Progress itself asks the environment when it is not told
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    under_actions = TerminalStream()
    progress = Progress(1, stream=under_actions)
    progress.started(["array--go1.24.11--amd64"])
    progress.finished("array--go1.24.11--amd64", Status.OK, 1.0)
    assert under_actions.getvalue().splitlines()[:2] == ["[0/1] array--go1.24.11--amd64: running",
                                                         "[1/1] array--go1.24.11--amd64: ok in 1.0 s"]
    monkeypatch.delenv("GITHUB_ACTIONS")
    monkeypatch.setenv("TERM", "dumb")
    dumb = TerminalStream()
    Progress(1, stream=dumb).finished("array--go1.24.11--amd64", Status.OK, 1.0)
    assert dumb.getvalue() == "[1/1] array--go1.24.11--amd64: ok in 1.0 s\n"


def test_statuses_are_coloured_on_a_colour_terminal(colour_terminal: None) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True)
    for status in (Status.OK, Status.FAILED, Status.TIMEOUT, Status.SKIPPED):
        console.print(finished_line(1, 4, "array--go1.24.11--amd64", status, 1.0))
    lines = out.getvalue().splitlines()
    assert "\x1b[32mok\x1b[0m" in lines[0]  # green
    assert "\x1b[31mfailed\x1b[0m" in lines[1]  # red
    assert "\x1b[31mtimeout\x1b[0m" in lines[2]
    assert "\x1b[33mskipped\x1b[0m" in lines[3]  # yellow


@pytest.mark.parametrize(("name", "value"), [("NO_COLOR", "1"), ("NO_COLOR", "anything"), ("TERM", "dumb")])
def test_no_colour_when_asked(colour_terminal: None, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True)
    console.print(finished_line(1, 2, "array--go1.24.11--amd64", Status.FAILED, 1.0, detail="does not compile"))
    console.print(finished_line(2, 2, "array--go1.24.11--arm64", Status.OK, 1.0))
    assert "\x1b[" not in out.getvalue()
    assert out.getvalue().splitlines()[0] == "[1/2] array--go1.24.11--amd64: failed in 1.0 s: does not compile"
    # the live display too: it moves the cursor, but sets no colour
    live_out = io.StringIO()
    progress = Progress(2, stream=live_out, live=True)
    progress.started(["array--go1.24.11--amd64"])
    progress.finished("array--go1.24.11--amd64", Status.FAILED, 1.0, detail="does not compile")
    progress.close()
    assert "array--go1.24.11--amd64: failed in 1.0 s: does not compile" in live_out.getvalue()
    assert not SGR.search(live_out.getvalue())


def test_live_status_line_is_cut_to_the_width(colour_terminal: None) -> None:
    out = io.StringIO()
    keys = [f"sliceappend-with-a-very-long-name--go1.2{n}.0--arm64" for n in range(3)]
    progress = Progress(3, stream=out, live=True)
    progress.started(keys)
    progress.finished(keys[0], Status.FAILED, 2.0, detail="exit status 2: " + "undefined: x; " * 20)
    progress.close()
    text = ANY_ESCAPE.sub("\n", SGR.sub("", out.getvalue()).replace("\r", "\n"))
    status_lines = [line for line in text.splitlines() if "ETA" in line]
    assert status_lines, out.getvalue()
    assert all(len(line) <= 80 for line in status_lines), status_lines
    assert status_lines[0].endswith("…")  # two long running keys do not fit: the ellipsis says so
    failed = next(line for line in text.splitlines() if line.startswith("[1/3] "))
    assert failed.startswith(f"[1/3] {keys[0]}: failed in 2.0 s: exit")
    assert len(failed) == 80 and failed.endswith("…")
    assert text.rstrip("\n").splitlines()[-1].startswith("[1/3] finished in ")


def test_prints_from_elsewhere_go_above_the_status_line(colour_terminal: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The runner logs with print(); on a terminal its lines must not land inside the status line."""
    progress = Progress(2, live=True)  # sys.stdout: capsys's stream
    progress.started(["array--go1.24.11--amd64"])
    print("gomatrix: pulling golang:1.24.11", flush=True)
    progress.finished("array--go1.24.11--amd64", Status.OK, 1.0)
    progress.close()
    out = capsys.readouterr().out
    assert re.search(r"\x1b\[2K\r?gomatrix: pulling golang:1\.24\.11\n", out), repr(out)


def test_many_threads_each_cell_counted_once() -> None:
    out = io.StringIO()
    keys = [f"case{n}--go1.24.11--amd64" for n in range(200)]
    progress = Progress(len(keys), stream=out, live=False)

    def work(mine: list[str]) -> None:
        for key in mine:
            progress.started([key])
            progress.finished(key, Status.OK, 0.1)

    threads = [threading.Thread(target=work, args=(keys[n::8],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = [line for line in out.getvalue().splitlines() if line.endswith(": ok in 0.1 s")]
    assert sorted(int(line[1:].split("/")[0]) for line in finished) == list(range(1, 201))
    assert sorted(line.split("] ")[1].split(":")[0] for line in finished) == sorted(keys)
    assert progress.done == 200


def test_status_line_text() -> None:
    progress = Progress(4, stream=io.StringIO(), live=False)
    assert progress.status_line() == "[0/4] elapsed 0 s · ETA ? · running: -"
    progress.started(["a", "b", "c"])
    assert progress.status_line().endswith("· running: a, b +1")
    progress.finished("a", Status.OK, 1.0)
    assert re.fullmatch(r"\[1/4\] elapsed \d+ s · ETA \d+ s · running: b, c", progress.status_line())


# The terminal test drives Progress from two threads, as run_cells does, in a real 80-column terminal.
_DRIVER = r"""
import sys, threading, time
from pathlib import Path
from gomatrix.core.kinds import Status
from gomatrix.run.progress import Progress

keys = [f"sliceappend-with-a-very-long-name-{n:02d}--go1.24.11--arm64" for n in range(12)]
progress = Progress(len(keys))
progress.log("gomatrix: 12 cells, 2 at a time")

def work(mine):
    for key in mine:
        progress.started([key])
        time.sleep(0.45)
        if key.endswith("-05--go1.24.11--arm64"):
            progress.finished(key, Status.FAILED, 0.5, detail="exit status 1: " + "main.go:12: undefined: x; " * 8)
        else:
            progress.finished(key, Status.OK, 0.5)

threads = [threading.Thread(target=work, args=(keys[n::2],)) for n in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
progress.close()
Path(sys.argv[1]).write_text("done")
time.sleep(600)  # keeps the pane and its screen until the test ends the tmux server
"""


def test_live_display_in_an_80_column_terminal(tmp_path: Path) -> None:
    tmux = shutil.which("tmux")
    assert tmux is not None, "tmux is needed for the terminal test (CI provisions it: .ci/provision.sh)"
    # A private tmux server (nobody else's sessions), its socket in a short path of its own (sockets have a
    # length limit) that goes away with the test.
    socket_dir = Path(tempfile.mkdtemp(prefix="gomatrix-tmux-"))
    socket = str(socket_dir / "socket")
    utf8 = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    driver, done = tmp_path / "driver.py", tmp_path / "done"
    driver.write_text(_DRIVER)
    # The pane's environment: a terminal as a person has it (no CI variables, no colour opt-out).
    command = shlex.join(["env", "-u", "GITHUB_ACTIONS", "-u", "NO_COLOR", "-u", "COLUMNS", "-u", "LINES",
                          *(f"{k}={v}" for k, v in utf8.items()),
                          f"PYTHONPATH={os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')]))}",
                          sys.executable, str(driver), str(done)])

    def run_tmux(*args: str) -> str:
        return subprocess.run([tmux, "-u", "-f", "/dev/null", "-S", socket, *args], check=True, capture_output=True,
                              text=True, encoding="utf-8", env={**os.environ, **utf8}).stdout

    def screen() -> list[str]:
        # -J joins a line that wrapped with its continuation: a wrapped line shows up as too long
        return [line.rstrip() for line in run_tmux("capture-pane", "-p", "-J", "-t", "progress").splitlines()]

    try:
        run_tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "progress", "-c", str(ROOT), command)
        captures: list[list[str]] = []
        deadline = time.monotonic() + 60
        while not done.exists():
            assert time.monotonic() < deadline, "the driver did not finish:\n" + "\n".join(screen())
            captures.append(screen())
            time.sleep(0.1)
        final = screen()
        while not any("finished in" in line for line in final) and time.monotonic() < deadline:
            time.sleep(0.1)  # the pane may not have drawn the last output yet
            final = screen()
    finally:
        subprocess.run([tmux, "-S", socket, "kill-server"], capture_output=True)  # ends the session and driver
        shutil.rmtree(socket_dir, ignore_errors=True)

    for lines in [*captures, final]:
        assert all(len(line) <= 80 for line in lines), "\n".join(lines)
        assert sum("ETA" in line for line in lines) <= 1, "\n".join(lines)
    status_lines = [line for lines in captures for line in lines if "ETA" in line]
    assert status_lines, "no capture showed the status line:\n" + "\n".join(captures[-1] if captures else final)
    assert any(line.endswith("…") for line in status_lines)  # two running long keys: cut with an ellipsis
    shown = "\n".join(final)
    assert not any("ETA" in line for line in final), shown
    assert final.count("gomatrix: 12 cells, 2 at a time") == 1, shown
    finished = [line for line in final if re.match(r"\[\d+/12\] sliceappend", line)]
    assert sorted(int(line[1:].split("/")[0]) for line in finished) == list(range(1, 13)), shown
    for n in range(12):
        key = f"sliceappend-with-a-very-long-name-{n:02d}--go1.24.11--arm64"
        mine = [line for line in finished if line.split("] ", 1)[1].startswith(f"{key}: ")]
        assert len(mine) == 1, shown
        if n == 5:
            assert mine[0].split("] ", 1)[1].startswith(f"{key}: failed in 0.5 s:")  # the reason did not fit
            assert len(mine[0]) == 80 and mine[0].endswith("…"), shown
        else:
            assert mine[0].endswith(f"] {key}: ok in 0.5 s"), shown
    assert re.fullmatch(r"\[12/12\] finished in \d+\.\d s", final[final.index(finished[-1]) + 1]), shown
    assert final.index("gomatrix: 12 cells, 2 at a time") < final.index(finished[0]), shown
