#!/usr/bin/env python3
"""A local rehearsal of the nightly workflow: the jobs' own scripts, in their order, on this machine.

plan (gomatrix plan) -> N shard processes (.ci/nightly/shard.sh), each starting from the combined
result cache of the nights before -> merge (.ci/nightly/merge.sh: shards merged into a checkout of the
reports branch, raw outputs packed, shard caches combined) -> publish (.ci/nightly/publish.sh) into a
local bare git repository. Three nights: the second with nothing new, the third after a new patch of
a Go minor was pushed to the registry. Prints per night the cells that ran, the plan digest each shard
ran, and the bytes the night added to the repository; the last line is the same as JSON.

Needs the Docker daemon and the local registry (.ci/provision.sh). Usage:
  python .ci/nightly/rehearse.py --registry 127.0.0.1:5000 --work /tmp/rehearsal
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from gomatrix.docker.registry import MEDIA_LIST, RegistryClient

HERE = Path(__file__).resolve().parent
# A repository of its own for each rehearsal: its new patch must not reach other users of the registry.
REPO = f"gomatrix-rehearsal/golang-{uuid.uuid4().hex[:8]}"


def _run(command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"rehearsal: `{' '.join(command)}` failed with {done.returncode}")
    return done.stdout


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_new_patch(client: RegistryClient, tag: str, new_tag: str) -> None:
    """A new patch release, as far as the tool can tell: the same layers under a new image config (a
    label), so a new image id and new digests."""
    got = client.get_manifest(REPO, tag)
    assert got is not None
    media, body, _digest = got
    listing = json.loads(body)
    entries = []
    for entry in listing["manifests"]:
        one = client.get_manifest(REPO, entry["digest"])
        assert one is not None
        one_media, one_body, _one_digest = one
        doc = json.loads(one_body)
        config = json.loads(client.request("GET", f"/v2/{REPO}/blobs/{doc['config']['digest']}").body)
        config.setdefault("config", {}).setdefault("Labels", {})["io.gomatrix.rehearsal"] = new_tag
        config_bytes = json.dumps(config).encode()
        client.push_blob(REPO, _sha256(config_bytes), data=config_bytes)
        doc["config"] = {**doc["config"], "digest": _sha256(config_bytes), "size": len(config_bytes)}
        new_body = json.dumps(doc).encode()
        entries.append({**entry, "digest": client.put_manifest(REPO, _sha256(new_body), one_media, new_body),
                        "size": len(new_body)})
    client.put_manifest(REPO, new_tag, media or MEDIA_LIST, json.dumps({**listing, "manifests": entries}).encode())


def _repo_bytes(bare: Path) -> int:
    return sum(p.stat().st_size for p in (bare / "objects").rglob("*") if p.is_file())


def night(number: int, *, registry: str, work: Path, bare: Path, shards: int, versions: str,
          extra: str) -> dict[str, Any]:
    here = work / f"night{number}"
    here.mkdir(parents=True)
    combined = work / "cache" / "results"  # what actions/cache restores: the newest combined entry
    plan = here / "plan.json"
    _run(["gomatrix", "plan", "--image", f"{registry}/{REPO}:{{version}}", "--versions", versions,
          "--arches", "amd64", "--out", str(plan)])
    shard_caches = []
    for index in range(1, shards + 1):
        cache = here / f"cache-{index}"
        if combined.is_dir():
            shutil.copytree(combined, cache / "results")
        shard_caches.append(str(cache / "results"))
        _run(["bash", str(HERE / "shard.sh")], cwd=here,
             env={"SHARD": str(index), "TOTAL": str(shards), "PLAN": str(plan), "ARCHES": "amd64",
                  "OUT": str(here / "shards" / str(index)), "GOMATRIX_CACHE": str(cache), "GOMATRIX_EXTRA": extra})
    ran, digests = 0, []
    for index in range(1, shards + 1):
        for run_dir in (here / "shards" / str(index)).iterdir():
            if run_dir.is_dir():
                digests.append(json.loads((run_dir / "plan.json").read_text())["plan"])
                ran += sum(1 for cell in (run_dir / "cells").glob("*.json")
                           if not json.loads(cell.read_text())["cache"]["hit"])
    published = here / "published"
    branch = _run(["git", "ls-remote", "--heads", str(bare), "reports"])
    if branch.strip():
        _run(["git", "clone", "-q", "--branch", "reports", str(bare), str(published)])
    else:
        _run(["git", "init", "-q", str(published)])
        _run(["git", "remote", "add", "origin", str(bare)], cwd=published)
    before = _repo_bytes(bare)
    _run(["bash", str(HERE / "merge.sh")], cwd=here,
         env={"PUBLISHED": str(published), "SHARDS": str(here / "shards"), "COMBINED_CACHE": str(combined),
              "SHARD_CACHES": " ".join(shard_caches), "GOMATRIX_CACHE": str(work / "cache")})
    _run(["bash", str(HERE / "publish.sh")], cwd=here, env={"PUBLISHED": str(published), "REMOTE": "origin"})
    return {"night": number, "cells_run": ran, "plan_digests": digests, "bytes_committed": _repo_bytes(bare) - before,
            "plan": json.loads(plan.read_text())["digest"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default="127.0.0.1:5000")
    parser.add_argument("--work", type=Path, required=True, help="an empty or missing directory")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--versions", default="1.24,1.23")
    parser.add_argument("--extra", default="--cases array,makeslice --benchtime 20ms --count 1",
                        help="more `gomatrix matrix` options: a small matrix")
    args = parser.parse_args()
    work: Path = args.work.resolve()
    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"rehearsal: {work} is not empty")
    work.mkdir(parents=True, exist_ok=True)
    bare = work / "published.git"
    _run(["git", "init", "-q", "--bare", str(bare)])
    client = RegistryClient(args.registry)
    for tag in ("1.23.9", "1.24.11"):
        client.copy_image("golang", tag, REPO, tag)
    nights = []
    for number in (1, 2, 3):
        if number == 3:
            push_new_patch(client, "1.24.11", "1.24.12")
        nights.append(night(number, registry=args.registry, work=work, bare=bare, shards=args.shards,
                            versions=args.versions, extra=args.extra))
        result = nights[-1]
        same = "identical" if len(set(result["plan_digests"])) == 1 else "DIFFER"
        print(f"night {number}: {result['cells_run']} cells ran; plan {result['plan'][:19]} in every shard: {same}; "
              f"{result['bytes_committed']} bytes committed", flush=True)
    print(json.dumps(nights))


if __name__ == "__main__":
    main()
