"""`invoke clean` keeps the containers of runs that are still going on this machine (another run may
share the daemon) and removes those whose orchestrator is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from gomatrix.app import _owner_alive


def test_a_live_orchestrator_is_told_from_a_dead_one() -> None:
    assert _owner_alive(f"{socket.gethostname()}:{os.getpid()}")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    assert not _owner_alive(f"{socket.gethostname()}:{finished.stdout.strip()}")
    assert not _owner_alive(f"another-machine.invalid:{os.getpid()}")
    assert not _owner_alive("")
