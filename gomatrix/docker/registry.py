"""A small Registry HTTP API v2 client: the image mirror pushes with it, version discovery reads with it."""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gomatrix.core.errors import RegistryError

MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHUNK = 1 << 20  # bytes per read/write of blob transfers
DOCKER_HUB = "registry-1.docker.io"
RATE_LIMIT_ATTEMPTS = 4  # a request answered HTTP 429 is sent at most this often (one try, three retries)
RETRY_AFTER_CAP = 60.0  # seconds: a longer Retry-After is not waited out (the error says to wait instead)
_REPOSITORY_PATH = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags)/")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _is_loopback(netloc: str) -> bool:
    host = netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
    return host in ("localhost", "[::1]", "::1") or host.startswith("127.")


def retry_wait(retry_after: str | None, attempt: int, cap: float = RETRY_AFTER_CAP) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...) after an HTTP 429: the server's
    Retry-After (seconds or an HTTP date), else 1, 2, 4 ... s; never negative, never above `cap`."""
    wait = float(2 ** (attempt - 1))
    text = (retry_after or "").strip()
    if text.isdigit():
        wait = float(text)
    elif text:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            pass  # unreadable: keep the backoff
        else:
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            wait = (when - datetime.now(UTC)).total_seconds()
    return min(max(wait, 0.0), cap)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class BearerChallenge:
    """A registry's `WWW-Authenticate: Bearer realm=...,service=...,scope=...` (scope may be empty, e.g. on /v2/,
    or several space-separated scopes, e.g. for a cross-repository mount)."""

    realm: str
    service: str
    scope: str

    @classmethod
    def parse(cls, header: str) -> BearerChallenge | None:
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        params = {key.lower(): value for key, value in re.findall(r'(\w+)="([^"]*)"', rest)}
        return cls(params.get("realm", ""), params.get("service", ""), params.get("scope", ""))

    def token_url(self) -> str:
        query = [("service", self.service)] if self.service else []
        query += [("scope", scope) for scope in self.scope.split()]
        separator = "&" if "?" in self.realm else "?"
        return self.realm + (separator + urllib.parse.urlencode(query) if query else "")


def _exchange(url: str, method: str, path: str, *, body: bytes | Any, headers: dict[str, str],
              timeout: float) -> Response:
    """One HTTP request on a fresh connection (plain or TLS by the URL's scheme); network errors propagate."""
    scheme, netloc = url.split("://", 1)
    if scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(netloc, timeout=timeout, blocksize=CHUNK)
    else:
        conn = http.client.HTTPConnection(netloc, timeout=timeout, blocksize=CHUNK)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def _rewinder(body: bytes | Any) -> Callable[[], bool]:
    """Whether (and how) a request body can be sent again: bytes always, a file by seeking back."""
    if body is None or isinstance(body, bytes | bytearray):
        return lambda: True
    try:
        start = body.tell()
    except (AttributeError, OSError):
        return lambda: False

    def rewind() -> bool:
        body.seek(start)
        return True

    return rewind


class RegistryClient:
    """Minimal Registry HTTP API v2 client over http.client: anonymous bearer tokens (Docker Hub's token
    flow), patience with HTTP 429, and plain HTTP (loopback registries)."""

    def __init__(self, registry: str, timeout: float = 300.0, *, rate_limit_attempts: int = RATE_LIMIT_ATTEMPTS,
                 retry_after_cap: float = RETRY_AFTER_CAP) -> None:
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
        self.rate_limit_attempts = max(1, rate_limit_attempts)
        self.retry_after_cap = retry_after_cap
        # Tokens are scoped (repository:NAME:pull): one per challenge, reused when the registry asks for the
        # same scope again, and sent up front on later requests for the same repository.
        self._tokens_by_challenge: dict[BearerChallenge, str] = {}
        self._tokens_by_repository: dict[str, str] = {}

    def request(
        self, method: str, path: str, *, body: bytes | Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        """One request. A 401 with a Bearer challenge gets an anonymous token for the challenge's scope
        (re-asked when the scope differs or the token sent was refused) and is sent once more; a 429 is
        waited out a bounded number of times (RegistryError when it persists)."""
        match = _REPOSITORY_PATH.match(path)
        repository = match.group(1) if match else ""
        rewind = _rewinder(body)
        sent = dict(headers or {})
        token = self._tokens_by_repository.get(repository)
        if token:
            sent["Authorization"] = f"Bearer {token}"
        where = f"{method} {self.url}{path}"

        def attempt() -> Response:
            return self._send(method, path, body=body, headers=sent)

        response = self._patiently(self._registry_name(), where, attempt, rewind)
        challenge = BearerChallenge.parse(response.headers.get("www-authenticate", ""))
        if response.status == 401 and challenge is not None and rewind():
            token = self._token_for(challenge, refused=token)
            self._tokens_by_repository[repository] = token
            sent["Authorization"] = f"Bearer {token}"
            response = self._patiently(self._registry_name(), where, attempt, rewind)
        return response

    def _registry_name(self) -> str:
        return f"Docker Hub ({self.netloc})" if self.netloc == DOCKER_HUB else f"the registry {self.netloc}"

    def _patiently(self, who: str, where: str, attempt: Callable[[], Response], rewind: Callable[[], bool]) -> Response:
        """attempt() until it is not answered HTTP 429, waiting as the server asks (capped), at most
        rate_limit_attempts times; then a RegistryError that says who limited us and what to do."""
        waited = 0.0
        for number in range(1, self.rate_limit_attempts + 1):
            response = attempt()
            if response.status != 429:
                return response
            asked = response.headers.get("retry-after")
            if number == self.rate_limit_attempts or not rewind():
                break
            pause = retry_wait(asked, number, self.retry_after_cap)
            time.sleep(pause)
            waited += pause
        detail = response.body[:300].decode("utf-8", "replace").strip()
        wait_hint = f"it asked for Retry-After: {asked.strip()}" if asked else "it gave no Retry-After"
        raise RegistryError(
            f"rate limited: {who} answered HTTP 429 Too Many Requests to all {number} attempts "
            f"({waited:.0f} s waited between them, {wait_hint})" + (f": {detail}" if detail else ""),
            where=where,
            fix="Wait for the limit to reset and rerun, or read from a mirror instead: "
            "`python -m gomatrix.mirror.images VERSIONS --registry 127.0.0.1:5000` puts golang images in a local "
            "registry (images/README.md), then pass --image 127.0.0.1:5000/golang:{version}. Docker Hub limits "
            "anonymous pulls per IP address; `docker login` raises the limit for the docker runner's own pulls, "
            "but these registry reads stay anonymous",
        )

    def _token_for(self, challenge: BearerChallenge, refused: str | None) -> str:
        """The token for this challenge: the one already held for its scope, unless that is the one the
        registry just refused (expired), else a new anonymous one from the realm."""
        held = self._tokens_by_challenge.get(challenge)
        if held and held != refused:
            return held
        token = self._anonymous_token(challenge)
        self._tokens_by_challenge[challenge] = token
        return token

    def _anonymous_token(self, challenge: BearerChallenge) -> str:
        realm = challenge.realm
        parts = urllib.parse.urlsplit(challenge.token_url())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"unusable auth challenge from {self.url}: realm {realm!r}", where=self.url,
                                fix="the registry's auth configuration is broken: tell its operator")
        base = f"{parts.scheme}://{parts.netloc}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        where = f"GET {base}{target}"

        def attempt() -> Response:
            try:
                return _exchange(base, "GET", target, body=None, headers={}, timeout=self.timeout)
            except (OSError, http.client.HTTPException) as exc:
                raise RegistryError(f"cannot get an anonymous token from {realm} for {self.url}: {exc}",
                                    where=where, fix="check the network, or use a registry without auth") from None

        answer = self._patiently(f"the token service {realm} (for {self.netloc})", where, attempt, lambda: True)
        if answer.status != 200:
            detail = answer.body[:300].decode("utf-8", "replace").strip()
            raise RegistryError(f"the token service {realm} refused an anonymous token for scope "
                                f"{challenge.scope or '(none)'}: HTTP {answer.status} {detail}", where=where,
                                fix="check the repository name (private repositories need a login, which this "
                                "tool does not do), or use a registry without auth")
        try:
            data = json.loads(answer.body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"no token in the answer of {realm}", where=where,
                                fix="the token service answered without a token: tell the registry's operator")
        return token

    def _send(self, method: str, path: str, *, body: bytes | Any, headers: dict[str, str]) -> Response:
        try:
            return _exchange(self.url, method, path, body=body, headers=headers, timeout=self.timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryError(
                f"cannot reach the registry at {self.url} ({exc.__class__.__name__}: {exc})",
                where=f"{method} {self.url}{path}",
                fix="start a local registry: `bash .ci/provision.sh` (starts Debian's docker-registry on "
                "127.0.0.1:5000), or by hand `docker-registry serve CONFIG.yml` with a config listening on "
                "127.0.0.1:5000 and no auth (see images/README.md)",
            ) from exc

    def _fail(self, what: str, r: Response, where: str) -> RegistryError:
        detail = r.body[:400].decode("utf-8", "replace").strip()
        fix = "check the registry's log"
        if r.status == 401:
            fix = ("this tool reads and pushes anonymously: the repository may be private or missing, or pushing "
                   "needs a login; push to a registry with no auth (see images/README.md)")
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


    def copy_image(self, src: str, tag: str, dst: str, dst_tag: str, *, only_arch: str | None = None) -> None:
        """src:tag (or only its only_arch image, as a single-platform tag) to dst:dst_tag in this registry,
        blobs mounted rather than uploaded again (tests and the nightly rehearsal set up repositories so)."""
        got = self.get_manifest(src, tag)
        if got is None:
            raise RegistryError(f"{src}:{tag} is not in the registry", where=self.url,
                                fix="Mirror it first (.ci/provision.sh, gomatrix images.mirror).")
        media_list, body, _digest = got
        for entry in json.loads(body)["manifests"]:
            if only_arch and entry["platform"]["architecture"] != only_arch:
                continue
            one = self.get_manifest(src, entry["digest"])
            if one is None:
                raise RegistryError(f"{src}@{entry['digest']} is missing", where=self.url)
            media, manifest, digest = one
            doc = json.loads(manifest)
            for blob in [doc["config"], *doc["layers"]]:
                path = f"/v2/{dst}/blobs/uploads/?mount={blob['digest']}&from={src}"
                mounted = self.request("POST", path, headers={"Content-Length": "0"})
                if mounted.status not in (201, 202):
                    raise self._fail(f"cannot mount {blob['digest']} from {src} into {dst}", mounted,
                                     f"POST {self.url}{path}")
            self.put_manifest(dst, dst_tag if only_arch else digest, media, manifest)
        if not only_arch:
            self.put_manifest(dst, dst_tag, media_list or MEDIA_LIST, body)

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
