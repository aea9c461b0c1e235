"""A small Registry HTTP API v2 client: the image mirror pushes with it, version discovery reads with it."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomatrix.core.errors import RegistryError

MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHUNK = 1 << 20  # bytes per read/write of blob transfers


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _is_loopback(netloc: str) -> bool:
    host = netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
    return host in ("localhost", "[::1]", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class RegistryClient:
    """Minimal Registry HTTP API v2 client over http.client: anonymous bearer tokens (Docker Hub) and
    plain HTTP (loopback registries)."""

    def __init__(self, registry: str, timeout: float = 300.0) -> None:
        text = registry.strip().rstrip("/")
        scheme = "http"
        if "://" in text:
            scheme, text = text.split("://", 1)
        if scheme not in ("http", "https") or not text or "/" in text:
            raise RegistryError(f"bad registry address {registry!r}", fix="give host:port, e.g. 127.0.0.1:5000")
        self.scheme = scheme
        self.netloc = text
        if "://" not in registry.strip() and not _is_loopback(text):
            self.scheme = scheme = "https"  # only loopback registries are spoken to in plain HTTP
        self.timeout = timeout
        self.url = f"{scheme}://{text}"
        self._token: str | None = None

    def _conn(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.netloc, timeout=self.timeout, blocksize=CHUNK)
        return http.client.HTTPConnection(self.netloc, timeout=self.timeout, blocksize=CHUNK)

    def request(
        self, method: str, path: str, *, body: bytes | Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        """One request; a 401 with a Bearer challenge gets an anonymous token and is sent once more."""
        sent = dict(headers or {})
        if self._token:
            sent["Authorization"] = f"Bearer {self._token}"
        response = self._send(method, path, body=body, headers=sent)
        challenge = response.headers.get("www-authenticate", "")
        if response.status == 401 and challenge.lower().startswith("bearer ") and body is None:
            self._token = self._anonymous_token(challenge)
            sent["Authorization"] = f"Bearer {self._token}"
            response = self._send(method, path, body=body, headers=sent)
        return response

    def _anonymous_token(self, challenge: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm.startswith("https://") and not realm.startswith("http://"):
            raise RegistryError(f"unusable auth challenge from {self.url}: {challenge}", where=self.url)
        url = realm + "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as answer:
                data = json.loads(answer.read())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"cannot get an anonymous token from {realm}: {exc}", where=self.url,
                                fix="check the network, or use a registry without auth") from None
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str):
            raise RegistryError(f"no token in the answer of {realm}", where=self.url)
        return token

    def _send(self, method: str, path: str, *, body: bytes | Any, headers: dict[str, str]) -> Response:
        conn = self._conn()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryError(
                f"cannot reach the registry at {self.url} ({exc.__class__.__name__}: {exc})",
                where=f"{method} {self.url}{path}",
                fix="start a local registry: `bash .ci/provision.sh` (starts Debian's docker-registry on "
                "127.0.0.1:5000), or by hand `docker-registry serve CONFIG.yml` with a config listening on "
                "127.0.0.1:5000 and no auth (see images/README.md)",
            ) from exc
        finally:
            conn.close()

    def _fail(self, what: str, r: Response, where: str) -> RegistryError:
        detail = r.body[:400].decode("utf-8", "replace").strip()
        fix = "check the registry's log"
        if r.status == 401:
            fix = "this tool pushes without credentials: use a registry with no auth (see images/README.md)"
        return RegistryError(f"{what}: HTTP {r.status} {detail}", where=where, fix=fix)

    def ping(self) -> None:
        r = self.request("GET", "/v2/")
        if r.status != 200:
            raise self._fail(f"{self.url} does not answer as a Docker registry (API v2)", r, f"GET {self.url}/v2/")

    def get_manifest(self, repo: str, ref: str) -> tuple[str, bytes, str] | None:
        accept = ", ".join([MEDIA_LIST, MEDIA_OCI_INDEX, MEDIA_MANIFEST, MEDIA_OCI_MANIFEST])
        path = f"/v2/{repo}/manifests/{ref}"
        r = self.request("GET", path, headers={"Accept": accept})
        if r.status == 404:
            return None
        if r.status != 200:
            raise self._fail(f"cannot read manifest {repo}:{ref}", r, f"GET {self.url}{path}")
        media = r.headers.get("content-type", "").split(";")[0].strip()
        return media, r.body, r.headers.get("docker-content-digest") or sha256_digest(r.body)

    def blob_exists(self, repo: str, digest: str) -> bool:
        path = f"/v2/{repo}/blobs/{digest}"
        r = self.request("HEAD", path)
        if r.status in (200, 404):
            return r.status == 200
        raise self._fail(f"cannot check blob {digest}", r, f"HEAD {self.url}{path}")

    def push_blob(self, repo: str, digest: str, *, path: Path | None = None, data: bytes | None = None) -> bool:
        """Upload a blob unless the registry has it; returns whether bytes were sent."""
        if self.blob_exists(repo, digest):
            return False
        start = f"/v2/{repo}/blobs/uploads/"
        r = self.request("POST", start, headers={"Content-Length": "0"})
        location = r.headers.get("location")
        if r.status != 202 or not location:
            raise self._fail("cannot start a blob upload", r, f"POST {self.url}{start}")
        u = urllib.parse.urlsplit(location)
        target = u.path + "?" + (u.query + "&" if u.query else "") + "digest=" + urllib.parse.quote(digest, safe="")
        if path is not None:
            size = path.stat().st_size
            with open(path, "rb") as f:
                r = self.request(
                    "PUT",
                    target,
                    body=f,
                    headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
                )
        else:
            body = data or b""
            r = self.request(
                "PUT",
                target,
                body=body,
                headers={"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"},
            )
        if r.status != 201:
            if b"DIGEST_INVALID" in r.body and path is not None:
                raise RegistryError(
                    f"the registry says blob {path.name} does not match its digest {digest}",
                    where=f"PUT {self.url}{u.path}",
                    fix=f"the cached file is corrupt: delete {path} and rerun",
                )
            raise self._fail(f"upload of blob {digest} was refused", r, f"PUT {self.url}{u.path}")
        return True

    def put_manifest(self, repo: str, ref: str, media_type: str, body: bytes) -> str:
        path = f"/v2/{repo}/manifests/{ref}"
        r = self.request("PUT", path, body=body, headers={"Content-Type": media_type})
        if r.status != 201:
            raise self._fail(f"the registry refused manifest {repo}:{ref}", r, f"PUT {self.url}{path}")
        digest = sha256_digest(body)
        got = r.headers.get("docker-content-digest")
        if got and got != digest:
            raise RegistryError(
                f"registry stored {repo}:{ref} as {got}, expected {digest}", where=f"PUT {self.url}{path}"
            )
        return digest


def _platform_name(p: dict[str, Any]) -> str:
    return f"{p.get('os', '?')}/{p.get('architecture', '?')}"


def registry_platforms(registry: str, repository: str, tag: str) -> tuple[str, tuple[str, ...]] | None:
    """(manifest-list digest, ("linux/amd64", ...)) of a multi-arch tag, or None if the tag is missing
    or is a single-arch manifest."""
    reg = RegistryClient(registry, timeout=30)
    got = reg.get_manifest(repository, tag)
    if got is None:
        return None
    media, body, digest = got
    if media not in (MEDIA_LIST, MEDIA_OCI_INDEX):
        return None
    try:
        doc = json.loads(body)
        plats = tuple(sorted({_platform_name(m.get("platform", {})) for m in doc.get("manifests", [])}))
    except (ValueError, AttributeError) as exc:
        raise RegistryError(f"unreadable manifest list for {repository}:{tag}", where=reg.url) from exc
    return digest, plats
