"""Progress of a run: a live status line on a terminal, plain lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self._stream = stream or sys.stdout
        self._live = self._stream.isatty() if live is None else live
        self._running: list[str] = []
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._status_shown = False

    def log(self, text: str) -> None:
        """A line of its own (above the status line on a terminal)."""
        with self._lock:
            self._clear()
            print(text, file=self._stream, flush=True)
            self._draw()

    def started(self, keys: list[str]) -> None:
        with self._lock:
            self._running.extend(keys)
            if not self._live:
                for key in keys:
                    print(f"[{self.done}/{self.total}] {key}: running", file=self._stream, flush=True)
            self._draw()

    def finished(self, key: str, status: str, seconds: float, detail: str = "", cached: bool = False) -> None:
        with self._lock:
            self.done += 1
            if key in self._running:
                self._running.remove(key)
            self._clear()
            how = "from the result cache" if cached else f"in {seconds:.1f} s"
            tail = f": {detail[:160]}" if detail else ""
            print(f"[{self.done}/{self.total}] {key}: {status} {how}{tail}", file=self._stream, flush=True)
            self._draw()

    def close(self) -> None:
        with self._lock:
            self._clear()
            elapsed = time.monotonic() - self._start
            print(f"[{self.done}/{self.total}] finished in {elapsed:.1f} s", file=self._stream, flush=True)

    def status_line(self) -> str:
        elapsed = time.monotonic() - self._start
        eta = f"{elapsed / self.done * (self.total - self.done):.0f} s" if self.done else "?"
        running = ", ".join(self._running[:2]) + (f" +{len(self._running) - 2}" if len(self._running) > 2 else "")
        return f"[{self.done}/{self.total}] elapsed {elapsed:.0f} s · ETA {eta} · running: {running or '-'}"

    def _clear(self) -> None:
        if self._live and self._status_shown:
            self._stream.write("\r\x1b[2K")
            self._status_shown = False

    def _draw(self) -> None:
        if self._live and self.done < self.total:
            self._stream.write(self.status_line()[:200])
            self._stream.flush()
            self._status_shown = True
