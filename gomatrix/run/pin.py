"""One plan for every shard of a nightly: each Go version resolved to its patch, and each image tag
pinned to the digest of each platform's image, once; shards run exactly that plan, and the merge
refuses shards that ran another one. (Per platform: a daemon refuses to pull one manifest-list digest
for a second platform, "Cannot overwrite digest".)"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gomatrix.core.errors import ConfigError, RegistryError
from gomatrix.docker.registry import RegistryClient
from gomatrix.plan.config import MatrixConfig
from gomatrix.toolchains.versions import resolve_versions, split_template

PLAN_SCHEMA = 1


def pinned_ref(ref: str, digest: str) -> str:
    """'127.0.0.1:5000/golang:1.24.11' + digest -> '127.0.0.1:5000/golang:1.24.11@sha256:...': the tag
    says what it was, the digest decides what is pulled (docker pulls a tag@digest reference by digest)."""
    return f"{ref}@{digest}"


def make_plan(config: MatrixConfig, *, timeout: float = 30.0) -> dict[str, Any]:
    """The plan of config: versions resolved in the registry and each image pinned by its digest. A version
    the registry cannot resolve or pin is an error: a nightly must not start with a plan it cannot keep."""
    registry, _repository, _tag = split_template(config.image)
    client = RegistryClient(registry, timeout=timeout)  # one client: one token for the tags and the manifests
    images: dict[str, dict[str, str]] = {}
    # Each tag's manifest list is read once, by the resolution: it gives the platforms and their digests.
    for resolved in resolve_versions(config.image, config.versions, config.arches, timeout=timeout, client=client):
        if not resolved.platforms:
            raise RegistryError(f"go{resolved.spec} cannot be pinned: {resolved.note}", where=config.image,
                                fix="Check the registry and the image template (--image), then plan again.")
        by_arch = dict(resolved.digests)
        images[resolved.version] = {arch: pinned_ref(resolved.ref, by_arch[arch])
                                    for arch in config.arches if arch in by_arch}
    body = {"schema": PLAN_SCHEMA, "image": config.image, "versions": list(images), "arches": list(config.arches),
            "images": images}
    return {**body, "digest": plan_digest(body)}


def plan_digest(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def load_plan(path: Path) -> dict[str, Any]:
    """A plan file written by `gomatrix plan`, checked: its digest must match its content."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the plan {path}: {exc}", where=str(path),
                          fix="Pass the file `gomatrix plan --out FILE` wrote.") from None
    if not isinstance(doc, dict) or doc.get("schema") != PLAN_SCHEMA or not isinstance(doc.get("images"), dict):
        raise ConfigError(f"{path} is not a gomatrix plan (schema {PLAN_SCHEMA})", where=str(path),
                          fix="Pass the file `gomatrix plan --out FILE` wrote.")
    body = {k: v for k, v in doc.items() if k != "digest"}
    if plan_digest(body) != doc.get("digest"):
        raise ConfigError(f"{path} was changed after planning (its digest does not match)", where=str(path),
                          fix="Plan again with `gomatrix plan --out FILE`.")
    return doc
