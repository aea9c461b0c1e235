"""`invoke clean` keeps the containers of runs that are still going on this machine (another run may
share the daemon) and removes those whose orchestrator is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from typing import Any

import pytest

from gomatrix.docker.clean import _owner_alive, clean
from gomatrix.docker.engine import LABEL, RUN_LABEL, SCRATCH_LABEL


def test_a_live_orchestrator_is_told_from_a_dead_one() -> None:
    assert _owner_alive(f"{socket.gethostname()}:{os.getpid()}")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    assert not _owner_alive(f"{socket.gethostname()}:{finished.stdout.strip()}")
    assert not _owner_alive(f"another-machine.invalid:{os.getpid()}")
    assert not _owner_alive("")


@pytest.mark.docker
def test_clean_removes_a_scratch_volume_whose_container_was_removed_without_it(docker_engine: Any) -> None:
    run = f"orphan-{uuid.uuid4().hex[:8]}"
    other = f"orphan-{uuid.uuid4().hex[:8]}"
    for name, label in ((f"gomatrix-test-{run}", run), (f"gomatrix-test-{other}", other)):
        docker_engine.ensure_volume(name, {LABEL: "1", SCRATCH_LABEL: "1", RUN_LABEL: label})
    try:
        removed = clean(run=run, log=lambda _line: None, engine_factory=lambda: docker_engine)
        assert removed == [f"volume gomatrix-test-{run}"]
        left = docker_engine.labelled_volumes(SCRATCH_LABEL)
        assert f"gomatrix-test-{run}" not in left and f"gomatrix-test-{other}" in left  # another run's: kept
    finally:
        docker_engine.remove_volume(f"gomatrix-test-{run}")
        docker_engine.remove_volume(f"gomatrix-test-{other}")
