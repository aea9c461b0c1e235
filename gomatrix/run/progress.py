"""Progress of a run: one live status line at the bottom of a terminal, plain lines otherwise (CI logs, pipes).

On a terminal, rich redraws the status line in place and prints finished cells and log lines above it.
The status line is cut to the terminal's width: a line that wraps cannot be cleared in place, and its
pieces would pile up on screen.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from gomatrix.core.kinds import Status

STATUS_STYLES = {Status.OK: "green", Status.FAILED: "red", Status.TIMEOUT: "red", Status.SKIPPED: "yellow"}
DETAIL_LIMIT = 160  # characters of a reason in a finished line; a terminal cuts the line at its width anyway
REDRAWS_PER_SECOND = 2  # the elapsed time on the status line counts whole seconds


def wants_live_display(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """A redrawn line needs a terminal that moves the cursor: not a pipe or a file, not a dumb terminal,
    and not GitHub Actions, whose log would keep every redraw."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true" or env.get("TERM", "").lower() in ("dumb", "unknown"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def finished_line(done: int, total: int, key: str, status: Status, seconds: float, detail: str = "",
                  cached: bool = False) -> Text:
    """The one line of a finished cell; its status is coloured where the console shows colour."""
    line = Text(f"[{done}/{total}] {key}: ", no_wrap=True, overflow="ellipsis")
    line.append(status, style=STATUS_STYLES[status])
    line.append(" from the result cache" if cached else f" in {seconds:.1f} s")
    if detail:  # a reason with newlines (compiler output) would break the one line per cell
        line.append(f": {' '.join(detail.split())[:DETAIL_LIMIT]}")
    return line


class Progress:
    """What the run is doing, for a person watching it; thread-safe, cells start in worker threads."""

    def __init__(self, total: int, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self._stream = stream or sys.stdout
        self._running: list[str] = []
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._closed = False
        self._display: Live | None = None
        self._console: Console | None = None
        if wants_live_display(self._stream) if live is None else live:
            # highlight=False: rich would otherwise colour the numbers and paths inside the lines
            self._console = Console(file=self._stream, force_terminal=True, highlight=False)

    def log(self, text: str) -> None:
        """A line of its own (above the status line on a terminal)."""
        with self._lock:
            self._emit(Text(text), soft_wrap=True)  # the terminal may wrap it: it is never redrawn
            self._update_display()

    def started(self, keys: list[str]) -> None:
        with self._lock:
            self._running.extend(keys)
            if self._console is None:
                for key in keys:
                    self._emit(Text(f"[{self.done}/{self.total}] {key}: running"))
            self._update_display()

    def finished(self, key: str, status: Status, seconds: float, detail: str = "", cached: bool = False) -> None:
        with self._lock:
            self.done += 1
            if key in self._running:
                self._running.remove(key)
            self._emit(finished_line(self.done, self.total, key, status, seconds, detail, cached))
            self._update_display()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._update_display()
            elapsed = time.monotonic() - self._start
            self._emit(Text(f"[{self.done}/{self.total}] finished in {elapsed:.1f} s"))

    def status_line(self) -> str:
        """Read without the lock too (by the redraw thread): it copies the running keys before using them."""
        done, running = self.done, tuple(self._running)
        elapsed = time.monotonic() - self._start
        eta = f"{elapsed / done * (self.total - done):.0f} s" if done else "?"
        shown = ", ".join(running[:2]) + (f" +{len(running) - 2}" if len(running) > 2 else "")
        return f"[{done}/{self.total}] elapsed {elapsed:.0f} s · ETA {eta} · running: {shown or '-'}"

    def _status_text(self) -> Text:
        return Text(self.status_line(), no_wrap=True, overflow="ellipsis")

    def _emit(self, line: Text, *, soft_wrap: bool = False) -> None:
        if self._console is None:
            print(line.plain, file=self._stream, flush=True)
        else:  # while the status line is shown, rich prints above it; print() would drop the line's own overflow
            self._console.print(line, no_wrap=line.no_wrap, overflow=line.overflow, soft_wrap=soft_wrap)

    def _update_display(self) -> None:
        """Show the status line while cells remain, remove it when all have finished or on close."""
        if self._console is None:
            return
        if self.done < self.total and not self._closed:
            if self._display is None:
                # Prints to the same terminal (the runner's log lines) go above the status line, not through it.
                ours = self._stream is sys.stdout or self._stream is sys.stderr
                self._display = Live(console=self._console, get_renderable=self._status_text, transient=True,
                                     refresh_per_second=REDRAWS_PER_SECOND, redirect_stdout=ours,
                                     redirect_stderr=ours)
                self._display.start()
            self._display.refresh()
        elif self._display is not None:
            self._display.stop()
            self._display = None
