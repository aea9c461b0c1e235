"""Version discovery: resolve each Go minor of the matrix to the newest patch tag in the registry,
and check that each tag offers the wanted platforms, through the Registry HTTP API (Docker Hub with
anonymous tokens, or a local registry). Offline, the versions stay as written."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gomatrix.core.errors import RegistryError
from gomatrix.docker.registry import DOCKER_HUB, MEDIA_LIST, MEDIA_OCI_INDEX, RegistryClient
from gomatrix.toolchains.providers import is_minor, version_tuple

# What users write for Docker Hub; its Registry API answers only at DOCKER_HUB (docker.io serves the website).
DOCKER_HUB_NAMES = ("docker.io", "index.docker.io", DOCKER_HUB)


@dataclass(frozen=True)
class ResolvedVersion:
    spec: str  # as written in the matrix: 1.24 or 1.24.11
    version: str  # the exact patch the registry has (the spec itself when offline)
    ref: str  # the image reference to run
    platforms: tuple[str, ...]  # linux/amd64, ...; empty when unknown (offline) or missing
    missing: tuple[str, ...]  # wanted arches the tag does not offer
    note: str  # how it was resolved, or why not
    digests: tuple[tuple[str, str], ...] = ()  # (arch, digest of its linux image) from the tag's manifest list


def split_template(template: str) -> tuple[str, str, str]:
    """'golang:{version}', 'docker.io/golang:{version}', 'index.docker.io/library/golang:{version}' ->
    ('registry-1.docker.io', 'library/golang', '{version}') as docker itself maps them (Docker Hub's API host,
    official images under library/); '127.0.0.1:5000/golang:{version}' -> ('127.0.0.1:5000', 'golang', '{version}')."""
    name, _, tag = template.rpartition(":")
    if not name or "/" in tag:
        raise RegistryError(f"the image template {template!r} has no tag", where="--image",
                            fix="Write it as REPOSITORY:{version}, e.g. golang:{version}.")
    first, _, rest = name.partition("/")
    if rest and first in DOCKER_HUB_NAMES:
        name = rest
    elif rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag
    return DOCKER_HUB, name if "/" in name else f"library/{name}", tag


def list_tags(client: RegistryClient, repository: str) -> list[str]:
    """Every tag of the repository (following the registry's pagination)."""
    tags: list[str] = []
    path: str | None = f"/v2/{repository}/tags/list?n=1000"
    while path:
        response = client.request("GET", path)
        if response.status != 200:
            raise RegistryError(f"cannot list the tags of {repository}: HTTP {response.status}",
                                where=f"{client.url}{path}", fix="Check the repository name in --image.")
        tags += json.loads(response.body).get("tags") or []
        link = response.headers.get("link", "")
        match = re.match(r"<([^>]+)>", link)
        path = match.group(1) if match else None
    return tags


def tag_images(client: RegistryClient, repository: str, tag: str) \
        -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
    """A tag's platforms (linux/amd64, linux/arm64 ...: a list's entries, or a single image's config) and
    (arch, digest) of each linux image of its manifest list (a single-image tag has none), from one read of
    its manifest; None: no tag."""
    got = client.get_manifest(repository, tag)
    if got is None:
        return None
    media, body, _digest = got
    doc = json.loads(body)
    if media in (MEDIA_LIST, MEDIA_OCI_INDEX):
        entries = [m for m in doc.get("manifests", []) if "platform" in m]
        platforms = tuple(sorted({f"{m['platform'].get('os')}/{m['platform'].get('architecture')}" for m in entries}))
        digests = tuple((str(m["platform"]["architecture"]), str(m["digest"])) for m in entries
                        if m["platform"].get("os") == "linux")
        return platforms, digests
    config_digest = doc.get("config", {}).get("digest")
    response = client.request("GET", f"/v2/{repository}/blobs/{config_digest}")
    if response.status != 200:
        raise RegistryError(f"cannot read the image config of {repository}:{tag}", where=client.url)
    config = json.loads(response.body)
    return (f"{config.get('os')}/{config.get('architecture')}",), ()


def resolve_versions(template: str, specs: Sequence[str], arches: Sequence[str], *,
                     timeout: float = 30.0, client: RegistryClient | None = None) -> list[ResolvedVersion]:
    """Each spec -> its newest patch tag, its platforms and their images' digests (each tag's manifest read
    once); as written when the registry cannot be read. client: the template's registry's (its tokens are
    reused), else a new one."""
    registry, repository, tag_template = split_template(template)
    pattern = re.compile("^" + re.escape(tag_template).replace(re.escape("{version}"), r"(\d+\.\d+\.\d+)") + "$")
    client = client or RegistryClient(registry, timeout=timeout)
    try:
        found = {m.group(1): tag for tag in list_tags(client, repository) if (m := pattern.match(tag))}
    except RegistryError as exc:
        reason = f"as written: the registry could not be read ({exc.what})"
        return [ResolvedVersion(spec, spec, template.replace("{version}", spec), (), (), reason) for spec in specs]
    resolved = []
    for spec in specs:
        if is_minor(spec):
            patches = [v for v in found if version_tuple(v)[:2] == version_tuple(spec)]
            version = max(patches, key=version_tuple) if patches else None
        else:
            version = spec if spec in found else None
        if version is None:
            resolved.append(ResolvedVersion(spec, spec, template.replace("{version}", spec), (), tuple(arches),
                                            f"no tag for go{spec} in {registry}/{repository}"))
            continue
        ref = template.replace("{version}", version)
        platforms, digests = tag_images(client, repository, found[version]) or ((), ())
        missing = tuple(a for a in arches if f"linux/{a}" not in platforms)
        note = f"newest {spec}.x tag" if is_minor(spec) else "tag exists"
        if missing:
            note += f"; no {', '.join('linux/' + a for a in missing)} image: those cells will be skipped"
        resolved.append(ResolvedVersion(spec, version, ref, platforms, missing, note, digests))
    return resolved
