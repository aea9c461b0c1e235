"""`gomatrix clean`: the containers and volumes that killed or crashed runs left behind."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from gomatrix.core.text import Log
from gomatrix.docker.engine import LABEL, OWNER_LABEL, RUN_LABEL, SCRATCH_LABEL, DockerEngine


def _owner_alive(owner: str) -> bool:
    """True when owner ("<hostname>:<pid>") is a live process on this machine."""
    host, _sep, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True



def clean(*, run: str = "", volumes: bool = False, everything: bool = False, log: Log = print,
          engine_factory: Callable[[], DockerEngine] = DockerEngine.connect) -> list[str]:
    """`invoke clean`: remove the tool's leftover containers (those of `run` only, when given).

    Containers whose orchestrator still runs on this machine are kept unless `everything`: another
    run may share the daemon. volumes: also the GOCACHE volumes (not with `run`: they are shared).
    Returns what was removed, and says it line by line.
    """
    engine = engine_factory()
    removed: list[str] = []
    label = f"{RUN_LABEL}={run}" if run else LABEL
    for container in engine.labelled(label):
        owner = container.labels.get(OWNER_LABEL, "")
        what = f"container {container.name} ({container.status}, run {container.labels.get(RUN_LABEL, '?')})"
        if not everything and not run and owner and _owner_alive(owner):
            log(f"gomatrix: kept {what}: its run is still going (pid {owner.rpartition(':')[2]}; --all removes it)")
            continue
        if engine.remove_container(container.id):
            removed.append(what)
            log(f"gomatrix: removed {what}")
    # A container's scratch volume goes with it, unless the container was removed without its volumes
    # (docker rm without -v): such orphans are never shared, so they go whenever they are not in use.
    for name in engine.labelled_volumes(f"{RUN_LABEL}={run}" if run else f"{SCRATCH_LABEL}=1"):
        if engine.remove_volume(name):
            removed.append(f"volume {name}")
            log(f"gomatrix: removed scratch volume {name}")
    if volumes and not run:
        for name in engine.labelled_volumes(LABEL):
            if engine.remove_volume(name):
                removed.append(f"volume {name}")
                log(f"gomatrix: removed volume {name}")
            else:
                log(f"gomatrix: kept volume {name}: in use")
    if not removed:
        log("gomatrix: nothing to remove")
    return removed
