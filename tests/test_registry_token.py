"""Docker Hub's own protocol against a real registry: Debian's docker-registry (distribution 2.8) started here
with token auth, a token server signing JWTs with a self-signed certificate the registry trusts, and a
forwarding proxy that can answer HTTP 429 like Docker Hub's pull limit. Nothing here needs Docker or the
CI mirror: the test pushes its own small multi-arch images through the same bearer flow."""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from gomatrix.core.errors import RegistryError
from gomatrix.docker.registry import (
    MEDIA_LIST,
    MEDIA_MANIFEST,
    RATE_LIMIT_ATTEMPTS,
    BearerChallenge,
    RegistryClient,
    retry_wait,
    sha256_digest,
)
from gomatrix.toolchains.versions import list_tags, resolve_versions, split_template
from tests.conftest import invoke, unavailable

SERVICE = "gomatrix-test-registry"
ISSUER = "gomatrix-test-issuer"
GOLANG = "library/golang"
OTHER = "gomatrix-test/other"
TAGS = ("1.24.3", "1.24.11")
ARCHES = ("amd64", "arm64")
PULL_GOLANG = f"repository:{GOLANG}:pull"
HUB_LIMIT_BODY = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate "
                                         "limit. You may increase the limit by authenticating and upgrading"}]})


# --------------------------------------------------------------------------------------------- pure parts
@pytest.mark.parametrize(("template", "expected"), [
    ("golang:{version}", ("registry-1.docker.io", "library/golang", "{version}")),
    ("docker.io/golang:{version}", ("registry-1.docker.io", "library/golang", "{version}")),
    ("index.docker.io/golang:{version}", ("registry-1.docker.io", "library/golang", "{version}")),
    ("docker.io/library/golang:{version}", ("registry-1.docker.io", "library/golang", "{version}")),
    ("registry-1.docker.io/golang:{version}", ("registry-1.docker.io", "library/golang", "{version}")),
    ("docker.io/someorg/go:{version}-alpine", ("registry-1.docker.io", "someorg/go", "{version}-alpine")),
    ("someorg/go:{version}", ("registry-1.docker.io", "someorg/go", "{version}")),
    ("localhost:5000/library/golang:{version}", ("localhost:5000", "library/golang", "{version}")),
])
def test_docker_hub_names_map_to_its_api_host_and_library(template: str, expected: tuple[str, str, str]) -> None:
    assert split_template(template) == expected


def test_retry_wait_follows_retry_after_within_the_cap() -> None:
    assert retry_wait("1", 1) == 1.0
    assert retry_wait("3600", 1) == 60.0  # capped: an hour is reported, not waited
    assert retry_wait(None, 1) == 1.0 and retry_wait(None, 3) == 4.0  # no header: 1, 2, 4 s
    assert retry_wait("soon", 2) == 2.0  # unreadable: the backoff
    past = format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)
    assert retry_wait(past, 1) == 0.0
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25.0 <= retry_wait(future, 1) <= 30.0


def test_bearer_challenge_asks_for_each_scope() -> None:
    header = ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
              'scope="repository:a/b:pull repository:c:pull,push"')
    challenge = BearerChallenge.parse(header)
    assert challenge == BearerChallenge("https://auth.docker.io/token", "registry.docker.io",
                                        "repository:a/b:pull repository:c:pull,push")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(challenge.token_url()).query)
    assert query == {"service": ["registry.docker.io"], "scope": ["repository:a/b:pull", "repository:c:pull,push"]}
    assert BearerChallenge.parse('Basic realm="registry"') is None


# ----------------------------------------------------------------------------- servers started by the test
@dataclass
class RateLimit:
    """Answer HTTP 429 (Docker Hub's body, this Retry-After) to the next `times` matching requests."""

    times: int = 0
    retry_after: str = "1"
    path_part: str = ""

    def take(self, path: str) -> bool:
        if self.times > 0 and self.path_part in path:
            self.times -= 1
            return True
        return False


@dataclass
class Served:
    """What a test server answered: (path, status) in order, shared with its handler threads."""

    requests: list[tuple[str, int]] = field(default_factory=list)
    limit: RateLimit = field(default_factory=RateLimit)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, path: str, status: int) -> None:
        with self.lock:
            self.requests.append((path, status))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.limit = RateLimit()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenIssuer:
    """Signs RS256 JWTs the way distribution's token auth verifies them: x5c = the certificate in the
    registry's rootcertbundle."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls) -> TokenIssuer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False),
                               critical=True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def token(self, access: list[dict[str, Any]]) -> str:
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "", "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


def requested_access(scopes: list[str]) -> list[dict[str, Any]]:
    """repository:NAME:pull[,push] -> the access claim granting it (anonymous, so pull and push only)."""
    access = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        granted = [a for a in actions.split(",") if a in ("pull", "push")]
        access.append({"type": kind, "name": name, "actions": granted})
    return access


class ThreadedServer:
    """An http.server in a daemon thread on 127.0.0.1 (a free port), stopped by close()."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=f"test-server-{self.port}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the test reads Served, not stderr
        pass

    def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def token_server(issuer: TokenIssuer, served: Served) -> ThreadedServer:
    class TokenHandler(QuietHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if served.limit.take(self.path):
                served.record(self.path, 429)
                self.answer(429, HUB_LIMIT_BODY.encode(), {"Retry-After": served.limit.retry_after,
                                                           "Content-Type": "application/json"})
                return
            if url.path != "/token" or query.get("service") != [SERVICE]:
                served.record(self.path, 400)
                self.answer(400, b'{"error": "unknown service"}', {"Content-Type": "application/json"})
                return
            token = issuer.token(requested_access(query.get("scope", [])))
            served.record(self.path, 200)
            body = json.dumps({"token": token, "access_token": token, "expires_in": 300,
                               "issued_at": datetime.now(UTC).isoformat()}).encode()
            self.answer(200, body, {"Content-Type": "application/json"})

    return ThreadedServer(TokenHandler)


def forwarding_proxy(registry_port: int, served: Served) -> ThreadedServer:
    """Reads forwarded to the registry, unless served.limit says to answer 429 as Docker Hub does."""

    class ProxyHandler(QuietHandler):
        def forward(self) -> None:
            if served.limit.take(self.path):
                served.record(self.path, 429)
                self.answer(429, HUB_LIMIT_BODY.encode(), {"Retry-After": served.limit.retry_after,
                                                           "Content-Type": "application/json"})
                return
            conn = http.client.HTTPConnection("127.0.0.1", registry_port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")}
                conn.request(self.command, self.path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                passed = {k: v for k, v in response.getheaders()
                          if k.lower() not in ("content-length", "connection", "transfer-encoding", "date")}
            finally:
                conn.close()
            served.record(self.path, response.status)
            self.answer(response.status, body, passed)

        do_GET = forward
        do_HEAD = forward

    return ThreadedServer(ProxyHandler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_registry(root: Path, token_port: int, issuer: TokenIssuer) -> tuple[subprocess.Popen[bytes], int, Path]:
    """docker-registry serve with token auth on a free port; returns once /v2/ answers its Bearer challenge."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(binary).is_file():
        unavailable("needs Debian's docker-registry binary (package docker-registry) to serve a token-auth registry")
    bundle = root / "token.crt"
    bundle.write_bytes(issuer.cert.public_bytes(serialization.Encoding.PEM))
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(root / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}"},
        "auth": {"token": {"realm": f"http://127.0.0.1:{token_port}/token", "service": SERVICE, "issuer": ISSUER,
                           "rootcertbundle": str(bundle)}},
    }
    config_path = root / "registry.yml"
    config_path.write_text(yaml.safe_dump(config))
    log = root / "registry.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen([binary, "serve", str(config_path)], stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/v2/")
            if conn.getresponse().status == 401:
                return process, port, log
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    stop(process)
    pytest.fail(f"the token-auth docker-registry did not answer on 127.0.0.1:{port}: {log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# ------------------------------------------------------------------------------------------ real content
def tar_gz(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A reproducible gzipped layer and its diff_id (the digest of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0), sha256_digest(raw.getvalue())


def push_image(client: RegistryClient, repository: str, tag: str) -> str:
    """A golang-like multi-arch tag (one tiny image per arch under a manifest list), pushed with the
    project's own client; returns the list's digest."""
    entries = []
    for arch in ARCHES:
        layer, diff_id = tar_gz({"usr/local/go/VERSION": f"go{tag}\n".encode()})
        config = json.dumps({"architecture": arch, "os": "linux", "config": {"Env": [f"GOLANG_VERSION={tag}"]},
                             "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
        for blob in (layer, config):
            client.push_blob(repository, sha256_digest(blob), data=blob)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                       "digest": sha256_digest(config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(layer),
                        "digest": sha256_digest(layer)}],
        }).encode()
        digest = client.put_manifest(repository, sha256_digest(manifest), MEDIA_MANIFEST, manifest)
        platform = {"architecture": arch, "os": "linux", **({"variant": "v8"} if arch == "arm64" else {})}
        entries.append({"mediaType": MEDIA_MANIFEST, "size": len(manifest), "digest": digest, "platform": platform})
    index = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_LIST, "manifests": entries}).encode()
    return client.put_manifest(repository, tag, MEDIA_LIST, index)


@dataclass
class TokenRegistry:
    port: int
    token_port: int
    proxy_port: int
    tokens: Served  # what the token server answered
    proxied: Served  # what the proxy in front of the registry answered
    log: Path

    def template(self, port: int | None = None) -> str:
        return f"127.0.0.1:{port or self.port}/{GOLANG}:{{version}}"

    def token_scopes(self) -> list[list[str]]:
        """The scopes of each token request answered 200, checking each named our service. Actions are
        sorted: distribution lists them in Go map order (pull,push or push,pull)."""
        scopes = []
        for path, status in self.tokens.requests:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            assert query["service"] == [SERVICE], path
            if status == 200:
                scopes.append([sorted_actions(scope) for scope in query.get("scope", [])])
        return scopes


def sorted_actions(scope: str) -> str:
    resource, _, actions = scope.rpartition(":")
    return f"{resource}:{','.join(sorted(actions.split(',')))}"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    """The registry with token auth, its token server and a proxy, holding library/golang 1.24.3 and 1.24.11
    and gomatrix-test/other 1.0.0 (amd64 + arm64 each), pushed through the bearer flow."""
    root = tmp_path_factory.mktemp("token-registry")
    issuer = TokenIssuer.create()
    tokens, proxied = Served(), Served()
    token_http = token_server(issuer, tokens)
    try:
        process, port, log = start_registry(root, token_http.port, issuer)
        try:
            proxy = forwarding_proxy(port, proxied)
            try:
                pusher = RegistryClient(f"127.0.0.1:{port}")
                for tag in TAGS:
                    push_image(pusher, GOLANG, tag)
                push_image(pusher, OTHER, "1.0.0")
                served = TokenRegistry(port, token_http.port, proxy.port, tokens, proxied, log)
                assert [f"repository:{GOLANG}:pull,push"] in served.token_scopes()  # pushes got their own token
                yield served
            finally:
                proxy.close()
        finally:
            stop(process)
            assert process.returncode is not None
    finally:
        token_http.close()


@pytest.fixture
def registry(token_registry: TokenRegistry) -> TokenRegistry:
    """The module's registry with the servers' records and rate limits cleared for this test."""
    token_registry.tokens.reset()
    token_registry.proxied.reset()
    return token_registry


# ------------------------------------------------------------------------------------------------- tests
def test_the_registry_refuses_anonymous_reads_with_a_bearer_challenge(registry: TokenRegistry) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=10)
    try:
        conn.request("GET", f"/v2/{GOLANG}/tags/list")
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 401
    challenge = BearerChallenge.parse(response.getheader("WWW-Authenticate") or "")
    assert challenge == BearerChallenge(f"http://127.0.0.1:{registry.token_port}/token", SERVICE, PULL_GOLANG)


def test_a_minor_resolves_through_the_bearer_flow(registry: TokenRegistry) -> None:
    (resolved,) = resolve_versions(registry.template(), ["1.24"], list(ARCHES))
    assert (resolved.version, resolved.platforms, resolved.missing) == ("1.24.11", ("linux/amd64", "linux/arm64"), ())
    assert resolved.ref == f"127.0.0.1:{registry.port}/{GOLANG}:1.24.11" and resolved.note == "newest 1.24.x tag"
    assert registry.token_scopes() == [[PULL_GOLANG]]  # one token serves the tag list and the manifest


def test_another_repository_is_challenged_anew_and_each_token_is_kept(registry: TokenRegistry) -> None:
    client = RegistryClient(f"127.0.0.1:{registry.port}")
    assert sorted(list_tags(client, GOLANG)) == sorted(TAGS)
    assert list_tags(client, OTHER) == ["1.0.0"]
    assert client.get_manifest(GOLANG, "1.24.3") is not None and client.get_manifest(OTHER, "1.0.0") is not None
    assert registry.token_scopes() == [[PULL_GOLANG], [f"repository:{OTHER}:pull"]]


def test_invoke_versions_prints_the_tag_and_platforms(registry: TokenRegistry) -> None:
    result = invoke("versions", "--image", registry.template(), "--versions", "1.24", "--arches", "amd64,arm64")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("| 1.24 "))
    assert "1.24.11" in row and "linux/amd64, linux/arm64" in row and "newest 1.24.x tag" in row
    assert registry.token_scopes() == [[PULL_GOLANG]]


def test_a_429_from_the_token_service_is_waited_out(registry: TokenRegistry) -> None:
    registry.tokens.limit = RateLimit(times=1, retry_after="1")
    started = time.monotonic()
    (resolved,) = resolve_versions(registry.template(), ["1.24"], list(ARCHES))
    assert time.monotonic() - started >= 1.0
    assert resolved.version == "1.24.11" and resolved.platforms == ("linux/amd64", "linux/arm64")
    assert [status for _path, status in registry.tokens.requests] == [429, 200]
    assert registry.tokens.requests[0][0] == registry.tokens.requests[1][0]  # the same token request, again


def test_a_token_service_that_keeps_answering_429_is_reported(registry: TokenRegistry) -> None:
    registry.tokens.limit = RateLimit(times=100, retry_after="0")
    client = RegistryClient(f"127.0.0.1:{registry.port}")
    with pytest.raises(RegistryError) as raised:
        client.get_manifest(GOLANG, "1.24.11")
    message = str(raised.value)
    assert raised.value.exit_code == 7
    assert "rate limited" in message and "HTTP 429" in message and f"all {RATE_LIMIT_ATTEMPTS} attempts" in message
    assert "the token service http://127.0.0.1:" in message and "pull rate limit" in message
    assert [status for _path, status in registry.tokens.requests] == [429] * RATE_LIMIT_ATTEMPTS
    # resolve_versions keeps the versions as written and says why
    registry.tokens.limit = RateLimit(times=100, retry_after="0")
    (resolved,) = resolve_versions(registry.template(), ["1.24"], list(ARCHES))
    assert resolved.version == "1.24" and "rate limited" in resolved.note


def test_a_429_from_the_registry_is_waited_out(registry: TokenRegistry) -> None:
    registry.proxied.limit = RateLimit(times=1, retry_after="1", path_part="/manifests/")
    started = time.monotonic()
    (resolved,) = resolve_versions(registry.template(registry.proxy_port), ["1.24"], list(ARCHES))
    assert time.monotonic() - started >= 1.0
    assert resolved.version == "1.24.11" and resolved.platforms == ("linux/amd64", "linux/arm64")
    manifest_answers = [(p, s) for p, s in registry.proxied.requests if "/manifests/" in p]
    assert manifest_answers == [(f"/v2/{GOLANG}/manifests/1.24.11", 429), (f"/v2/{GOLANG}/manifests/1.24.11", 200)]


def test_a_registry_that_keeps_answering_429_is_reported_with_what_to_do(registry: TokenRegistry) -> None:
    registry.proxied.limit = RateLimit(times=100, retry_after="1", path_part="/manifests/")
    started = time.monotonic()
    with pytest.raises(RegistryError) as raised:
        resolve_versions(registry.template(registry.proxy_port), ["1.24"], list(ARCHES))
    assert time.monotonic() - started >= RATE_LIMIT_ATTEMPTS - 1  # Retry-After: 1 between the attempts
    message = str(raised.value)
    assert message.startswith("registry problem: rate limited: the registry 127.0.0.1:")
    assert f"HTTP 429 Too Many Requests to all {RATE_LIMIT_ATTEMPTS} attempts" in message
    assert "Retry-After: 1" in message and "pull rate limit" in message
    assert "Wait for the limit to reset" in message and "--image 127.0.0.1:5000/golang:{version}" in message
    statuses = [s for p, s in registry.proxied.requests if p == f"/v2/{GOLANG}/manifests/1.24.11"]
    assert statuses == [429] * RATE_LIMIT_ATTEMPTS


def test_a_blob_file_is_pushed_through_the_token_flow(registry: TokenRegistry, tmp_path: Path) -> None:
    """The mirror uploads blobs from files: the upload gets its own pull,push token before the file is sent."""
    blob = tmp_path / "layer.tar.gz"
    blob.write_bytes(tar_gz({"hello": b"a file pushed with a token\n"})[0])
    digest = sha256_digest(blob.read_bytes())
    client = RegistryClient(f"127.0.0.1:{registry.port}")
    assert client.push_blob("gomatrix-test/files", digest, path=blob) is True
    assert client.blob_exists("gomatrix-test/files", digest) and client.push_blob("gomatrix-test/files", digest,
                                                                                  path=blob) is False
    assert registry.token_scopes() == [["repository:gomatrix-test/files:pull"],
                                       ["repository:gomatrix-test/files:pull,push"]]


def test_plan_reads_each_manifest_list_once(registry: TokenRegistry, tmp_path: Path) -> None:
    """`gomatrix plan` resolves the versions and pins each platform's image from one read of each tag's
    manifest list (counted at the proxy in front of the registry), with one token for the repository."""
    out = tmp_path / "plan.json"
    made = invoke("plan", "--image", registry.template(registry.proxy_port), "--versions", "1.24,1.24.3",
                  "--arches", "amd64,arm64", "--out", str(out))
    assert made.returncode == 0, made.stdout + made.stderr
    plan = json.loads(out.read_text())
    assert plan["versions"] == ["1.24.11", "1.24.3"]
    client = RegistryClient(f"127.0.0.1:{registry.port}")
    for tag in ("1.24.11", "1.24.3"):
        got = client.get_manifest(GOLANG, tag)
        assert got is not None
        digests = {m["platform"]["architecture"]: m["digest"] for m in json.loads(got[1])["manifests"]}
        assert plan["images"][tag] == {arch: f"127.0.0.1:{registry.proxy_port}/{GOLANG}:{tag}@{digests[arch]}"
                                       for arch in ARCHES}
    reads = [path for path, status in registry.proxied.requests if status == 200]
    assert sorted(p for p in reads if "/manifests/" in p) == [f"/v2/{GOLANG}/manifests/1.24.11",
                                                              f"/v2/{GOLANG}/manifests/1.24.3"]
    assert [p for p in reads if "/tags/list" in p] == [f"/v2/{GOLANG}/tags/list?n=1000"]
    assert registry.token_scopes()[:1] == [[PULL_GOLANG]] and len(registry.token_scopes()) == 2  # the plan's, ours
