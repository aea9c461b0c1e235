"""Image metadata: the image config, the per-arch image manifest and the manifest list (Docker schema 2
media types), laid out like the official ``golang`` tags.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gomatrix.docker.registry import MEDIA_LIST, MEDIA_MANIFEST
from gomatrix.docker.registry import sha256_digest as _sha
from gomatrix.mirror.layers import Layer

__all__ = [
    "GOROOT_IN_IMAGE",
    "IMAGE_PATH",
    "MEDIA_CONFIG",
    "MEDIA_LAYER",
    "VARIANT",
    "PlatformManifest",
    "image_config",
    "image_env",
    "image_manifest",
    "manifest_list",
]

MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

#: manifest-list / image-config variant, as on the official tags
VARIANT = {"arm64": "v8"}

GOROOT_IN_IMAGE = "usr/local/go"
IMAGE_PATH = "/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class PlatformManifest:
    """One entry of a manifest list."""

    arch: str
    digest: str
    size: int


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, indent=3, sort_keys=False).encode()


def image_env(go_version: str) -> list[str]:
    return [f"PATH={IMAGE_PATH}", f"GOLANG_VERSION={go_version}", "GOTOOLCHAIN=local", "GOPATH=/go"]


def image_config(
    *,
    arch: str,
    go_version: str,
    layers: Sequence[Layer],
    created: str,
    labels: dict[str, str] | None = None,
    history: Sequence[str] = (),
) -> bytes:
    """Image config JSON (``application/vnd.docker.container.image.v1+json``)."""
    all_labels = {"io.gomatrix.mirror": "1", "io.gomatrix.go-version": go_version, **(labels or {})}
    cfg: dict[str, Any] = {
        "architecture": arch,
        "os": "linux",
    }
    if arch in VARIANT:
        cfg["variant"] = VARIANT[arch]
    cfg["created"] = created
    cfg["config"] = {
        "Env": image_env(go_version),
        "Cmd": ["sh"],
        "WorkingDir": "/go",
        "Labels": dict(sorted(all_labels.items())),
    }
    cfg["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    hist: list[dict[str, Any]] = [{"created": created, "created_by": h} for h in history]
    hist += [{"created": created, "created_by": f"ENV {env}", "empty_layer": True} for env in image_env(go_version)]
    hist += [
        {"created": created, "created_by": "WORKDIR /go", "empty_layer": True},
        {"created": created, "created_by": 'CMD ["sh"]', "empty_layer": True},
    ]
    cfg["history"] = hist
    return _dumps(cfg)


def image_manifest(config: bytes, layers: Sequence[Layer]) -> bytes:
    """Image manifest JSON (schema 2, ``application/vnd.docker.distribution.manifest.v2+json``)."""
    return _dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "size": len(config), "digest": _sha(config)},
            "layers": [{"mediaType": MEDIA_LAYER, "size": la.size, "digest": la.digest} for la in layers],
        }
    )


def manifest_list(entries: Sequence[PlatformManifest]) -> bytes:
    """Manifest list JSON (``application/vnd.docker.distribution.manifest.list.v2+json``)."""
    manifests = []
    for p in entries:
        plat = {"architecture": p.arch, "os": "linux"}
        if p.arch in VARIANT:
            plat["variant"] = VARIANT[p.arch]
        manifests.append({"mediaType": MEDIA_MANIFEST, "size": p.size, "digest": p.digest, "platform": plat})
    return _dumps({"schemaVersion": 2, "mediaType": MEDIA_LIST, "manifests": manifests})
