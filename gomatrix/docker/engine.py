"""The one module that talks to the Docker daemon (the only importer of the Docker SDK).

Everything else uses these typed calls: pull an image for a platform, run a container with limits
and labels (files copied in, a directory copied out, always removed), keep labelled cache volumes.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.types import Mount

from gomatrix.core.errors import EngineUnavailable, ImageError
from gomatrix.core.platform import goarch_of

LABEL = "io.gomatrix"  # every container and volume the tool creates carries it
RUN_LABEL = "io.gomatrix.run"  # ... and the run that created it
OWNER_LABEL = "io.gomatrix.owner"  # containers: "<hostname>:<pid>" of the orchestrator that runs them
SCRATCH_LABEL = "io.gomatrix.scratch"  # a container's own scratch volume (removed with the container)
CREATOR_LABEL = "io.gomatrix.created-by"  # shared volumes: the run that created them (they carry no run label)
CACHE_LABEL = "io.gomatrix.cache"  # GOCACHE volumes (value: what they cache), kept between runs
IMAGE_LABEL = "io.gomatrix.image"  # a GOCACHE volume: the image whose builds it caches
CELLS_LABEL = "io.gomatrix.cells"  # a container: the cells it runs
PHASE_LABEL = "io.gomatrix.phase"  # a container: all, build or run (cross-compiled cells take two)
PULL_ATTEMPTS = 3  # a transient registry error is tried again, with backoff
PULL_BACKOFF_S = 2.0
SANDBOX_UID = 65534  # nobody: cells never run as root
SANDBOX_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"


class ImageNotAvailable(ImageError):
    """The registry has no such tag, or not for the wanted platform (a skipped cell, not a crash)."""


@dataclass(frozen=True)
class ImageInfo:
    ref: str
    id: str
    digest: str | None
    architecture: str


@dataclass(frozen=True)
class ContainerSpec:
    image_id: str
    command: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    memory: str = "2g"
    pids: int = 1024
    cpus: float = 2.0
    volumes: Mapping[str, str] = field(default_factory=dict)  # volume name -> mount point
    working_dir: str = "/tmp"
    user: str | None = SANDBOX_USER  # None: the image's user (root in golang images)
    read_only: bool = True  # the image's filesystem is read-only: only scratch and volumes can be written
    # A labelled anonymous volume mounted here, removed with the container. Not a tmpfs: the files
    # are copied in before the start, and the archive API cannot write into a tmpfs.
    scratch: str | None = "/tmp"


@dataclass(frozen=True)
class LabelledContainer:
    id: str
    name: str
    status: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ContainerResult:
    exit_code: int | None  # None when killed at the timeout
    timed_out: bool
    oom_killed: bool
    logs: str


def tar_directories(sources: Mapping[str, Path], extra: Mapping[str, bytes] | None = None, *,
                    writable_dirs: tuple[str, ...] = (), owner: int = SANDBOX_UID,
                    exclude: tuple[str, ...] = ()) -> bytes:
    """A tar holding each source directory under its arcname, plus extra files (path -> content).

    Everything is owned by root and read-only (files 0444, executables and directories 0555), except
    writable_dirs (and the directories above them), which belong to `owner`: the sandbox user can
    write there and nowhere else in the tree. exclude: names of files and directories left out of the
    sources wherever they are (e.g. .git).
    """
    writable: set[str] = set()
    for name in writable_dirs:
        parts = name.strip("/").split("/")
        writable.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))

    def read_only(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if info.name.rpartition("/")[2] in exclude:
            return None  # and, for a directory, everything in it
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if info.isdir():
            info.mode = 0o555
        else:
            info.mode = 0o555 if info.mode & 0o111 else 0o444
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in sorted(writable):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.uid = info.gid = owner
            archive.addfile(info)
        for arcname, source in sources.items():
            archive.add(str(source), arcname=arcname, filter=read_only)
        for name, content in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o555
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class DockerEngine:
    """A thin, typed wrapper over the Docker SDK."""

    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client

    @classmethod
    def connect(cls, timeout: int = 300) -> DockerEngine:
        """Connect to the daemon named by DOCKER_HOST (or the local socket)."""
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        try:
            client = docker.from_env(timeout=timeout)
            client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise EngineUnavailable(
                f"no Docker daemon answers: {str(exc).splitlines()[0][:200]}", where=where,
                fix="Start dockerd (see .ci/provision.sh for the flags used here) or set DOCKER_HOST.",
            ) from None
        return cls(client)

    def architecture(self) -> str:
        """The daemon's native GOARCH (amd64 / arm64)."""
        machine = str(self._client.info().get("Architecture", ""))
        return goarch_of(machine)

    def is_local(self) -> bool:
        """True when the daemon runs on this machine (so host binfmt applies to it)."""
        host = os.environ.get("DOCKER_HOST", "")
        return host == "" or host.startswith("unix://")

    def pull(self, ref: str, platform: str, *, attempts: int = PULL_ATTEMPTS,
             backoff: float = PULL_BACKOFF_S) -> ImageInfo:
        """Pull ref for platform (linux/amd64, linux/arm64) and describe the image that came.

        Pulling the same tag for another platform moves the tag, so callers keep the returned id.
        A transient registry error (connection refused or reset, timeouts, 5xx, rate limits) is
        retried up to `attempts` times in all, waiting backoff, 2 x backoff, ... in between; a
        missing tag or platform is not retried. Each HTTP read is bounded by the client's timeout.
        """
        for attempt in range(1, attempts + 1):
            try:
                return self._pull_once(ref, platform)
            except ImageNotAvailable:
                raise
            except ImageError as exc:
                if attempt == attempts or not _transient(exc.what):
                    if attempt > 1:
                        exc.what += f" (after {attempt} attempts)"
                        exc.args = (exc.message(),)
                    raise
                time.sleep(backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def _pull_once(self, ref: str, platform: str) -> ImageInfo:
        repository, tag = _split_ref(ref)
        wanted_arch = platform.rsplit("/", 1)[-1]
        digest: str | None = None
        try:
            # Another process may pull the same tag for another platform between our pull and our
            # look-up (the local tag follows the last pull): look again until the architecture fits.
            for _attempt in range(3):
                digest = self._pull_stream(repository, tag, platform)
                image = self._client.images.get(_local_name(repository, tag))
                if image.attrs.get("Architecture") == wanted_arch:
                    break
        except docker.errors.NotFound as exc:
            raise ImageNotAvailable(f"{ref} has no image for {platform}: {_api_message(exc)}", where=ref,
                                    fix="Check the tag, or mirror it: gomatrix images.mirror.") from None
        except docker.errors.APIError as exc:
            message = _api_message(exc)
            if any(word in message.lower() for word in ("no matching manifest", "not found", "manifest unknown")):
                raise ImageNotAvailable(f"{ref} has no image for {platform}: {message}", where=ref,
                                        fix="Check the tag and the platforms it offers.") from None
            raise ImageError(f"pulling {ref} for {platform} failed: {message}", where=ref,
                             fix="Check that the registry is reachable (see --image).") from None
        except requests.exceptions.RequestException as exc:
            raise ImageError(f"pulling {ref} failed: {exc}", where=ref,
                             fix="The daemon stopped answering; check dockerd.") from None
        attrs = image.attrs
        return ImageInfo(
            ref=ref,
            id=str(image.id),
            digest=digest,
            architecture=str(attrs.get("Architecture", "")),
        )

    def _pull_stream(self, repository: str, tag: str, platform: str) -> str | None:
        """Pull and return the tag's digest from the "Digest:" line (a manifest list's digest for
        multi-arch tags; RepoDigests cannot be trusted for it: it follows the last platform pulled)."""
        digest = None
        for event in self._client.api.pull(repository, tag=tag, platform=platform, stream=True, decode=True):
            if "error" in event:
                raise docker.errors.APIError(str(event.get("error")))
            status = str(event.get("status", ""))
            if status.startswith("Digest: "):
                digest = status.split(": ", 1)[1].strip()
        return digest

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        try:
            self._client.volumes.get(name)
        except docker.errors.NotFound:
            self._client.volumes.create(name=name, labels={LABEL: "1", **labels})

    def run(self, spec: ContainerSpec, *, put: bytes, put_into: str, get: str, get_into: Path,
            timeout: float, more_puts: Sequence[tuple[str, bytes]] = ()) -> ContainerResult:
        """Create a container, copy `put` (a tar) into put_into (and each of more_puts, e.g. into a
        volume), run it to the end or the timeout, copy the directory `get` out into get_into, and
        remove the container whatever happens.

        The sandbox: no network, not privileged, every capability dropped, no new privileges, the
        spec's user (non-root by default), memory (no swap), pids and CPU limits, a read-only root
        filesystem with the spec's scratch volume (anonymous, with the container's labels, removed
        with it), and no host path: only the spec's named volumes are mounted (never the Docker socket)."""
        container: Container | None = None
        mounts: list[Mount] = []
        if spec.scratch is not None:
            mounts.append(Mount(target=spec.scratch, source=None, type="volume",
                                labels={LABEL: "1", SCRATCH_LABEL: "1", **spec.labels}))
        try:
            container = self._client.containers.create(
                spec.image_id,
                command=list(spec.command),
                environment=dict(spec.environment),
                labels={LABEL: "1", **spec.labels},
                network_mode="none",
                mem_limit=spec.memory,
                memswap_limit=spec.memory,  # no swap: over the limit means out of memory
                pids_limit=spec.pids,
                nano_cpus=int(spec.cpus * 1e9),
                volumes={name: {"bind": mount, "mode": "rw"} for name, mount in spec.volumes.items()},
                mounts=mounts,
                read_only=spec.read_only,
                working_dir=spec.working_dir,
                user=spec.user or "",
                privileged=False,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                detach=True,
            )
            container.put_archive(put_into, put)
            for path, archive in more_puts:
                container.put_archive(path, archive)
            container.start()
            timed_out = False
            exit_code: int | None
            try:
                status = container.wait(timeout=timeout)
                exit_code = int(status.get("StatusCode", -1))
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                timed_out = True
                exit_code = None
                container.kill()
                container.wait(timeout=60)
            container.reload()
            oom = bool(container.attrs.get("State", {}).get("OOMKilled", False))
            logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            self._copy_out(container, get, get_into)
            return ContainerResult(exit_code=exit_code, timed_out=timed_out, oom_killed=oom, logs=logs)
        except docker.errors.APIError as exc:
            raise ImageError(f"container run failed: {_api_message(exc)}", where=spec.image_id,
                             fix="See the daemon log.") from None
        finally:
            if container is not None:
                with contextlib.suppress(docker.errors.APIError):  # already gone
                    container.remove(force=True, v=True)  # v: its scratch volume too

    @staticmethod
    def _copy_out(container: Container, path: str, dest: Path) -> None:
        try:
            chunks, _stat = container.get_archive(path)
        except docker.errors.NotFound:
            return  # the cell stopped before it wrote anything
        dest.mkdir(parents=True, exist_ok=True)
        # Spooled to a file, not joined in memory: a build phase hands on every cell's test binary.
        with tempfile.TemporaryFile() as buffer:
            for chunk in chunks:
                buffer.write(chunk)
            buffer.seek(0)
            with tarfile.open(fileobj=buffer) as archive:
                # The tar holds the directory itself as its top entry: strip it.
                members = []
                for member in archive.getmembers():
                    parts = member.name.split("/", 1)
                    if len(parts) < 2 or not parts[1]:
                        continue
                    member.name = parts[1]
                    members.append(member)
                archive.extractall(dest, members=members, filter="data")

    def remove_volumes(self, label: str) -> int:
        """Remove the volumes carrying label (e.g. the GOCACHE volumes); returns how many."""
        volumes = self._client.volumes.list(filters={"label": label})
        for volume in volumes:
            volume.remove(force=True)
        return len(volumes)

    def labelled(self, label: str = LABEL) -> list[LabelledContainer]:
        """Every container (running or not) carrying label ("key" or "key=value")."""
        return [LabelledContainer(id=str(c["Id"]), name=str((c.get("Names") or ["?"])[0]).lstrip("/"),
                                  status=str(c.get("State", "")), labels=dict(c.get("Labels") or {}))
                for c in self._listed(label)]

    def _listed(self, label: str) -> list[dict[str, Any]]:
        """The daemon's container list as is: no per-container look-up that a concurrent removal can break."""
        return list(self._client.api.containers(all=True, filters={"label": label}))

    def remove_container(self, container_id: str) -> bool:
        """Remove (killing it if it runs) one container and its scratch volume; False if it was already gone."""
        try:
            self._client.containers.get(container_id).remove(force=True, v=True)
        except docker.errors.NotFound:
            return False
        return True

    def labelled_volumes(self, label: str = LABEL) -> list[str]:
        return sorted(self.volume_labels(label))

    def volume_labels(self, label: str = LABEL) -> dict[str, dict[str, str]]:
        """Every volume carrying label ("key" or "key=value"): name -> its labels."""
        return {str(v.name): dict(v.attrs.get("Labels") or {})
                for v in self._client.volumes.list(filters={"label": label})}

    def remove_volume(self, name: str) -> bool:
        """Remove one volume; False if it is gone or in use (a running cell holds it)."""
        try:
            self._client.volumes.get(name).remove(force=True)
        except (docker.errors.NotFound, docker.errors.APIError):
            return False
        return True

    def labelled_containers(self, label: str = LABEL) -> list[str]:
        return [str(c["Id"]) for c in self._listed(label)]


_TRANSIENT = ("connection refused", "connection reset", "timeout", "timed out", "temporarily unavailable",
              "toomanyrequests", "too many requests", "500 internal", "502", "503", "504", "eof",
              "no such host", "tls handshake", "unexpected eof")


def _transient(message: str) -> bool:
    """A registry error that may go away when tried again."""
    lowered = message.lower()
    return any(word in lowered for word in _TRANSIENT)


def _split_ref(ref: str) -> tuple[str, str]:
    """'127.0.0.1:5000/golang:1.24' -> ('127.0.0.1:5000/golang', '1.24'); a missing tag is 'latest'; a
    pinned 'repo:tag@sha256:...' -> ('repo', 'sha256:...'): the digest is what is pulled."""
    name, at, digest = ref.partition("@")
    if at:
        return _split_ref(name)[0], digest
    name, sep, tag = ref.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return ref, "latest"


def _local_name(repository: str, tag: str) -> str:
    """How the daemon names what was pulled: repo:tag, or repo@sha256:... for a digest."""
    return f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"


def _api_message(exc: docker.errors.APIError) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip()
