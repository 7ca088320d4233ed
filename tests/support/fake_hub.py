"""A loopback HTTP server that speaks enough of the Hugging Face Hub protocol for ``hf_hub_download``
at a pinned revision, and serves plain files for URL (GitHub-style) sources.

Hub files: ``HEAD/GET /{repo_id}/resolve/{revision}/{filename}`` answer with ``X-Repo-Commit``,
``ETag`` and, for LFS files, ``X-Linked-Etag`` (the SHA-256) and ``X-Linked-Size``. Unknown
files get 404 with ``X-Error-Code: EntryNotFound`` as on the Hub.
Plain files: ``GET /files/{path}``.

Faults, per file: ``advertised_sha256`` / ``advertised_size`` make the Hub headers lie (tampered
or truncated storage); ``truncate_to`` sends the full ``Content-Length`` but only that many bytes,
then closes the connection (a dropped download).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclass
class HostedFile:
    content: bytes
    commit: str | None = None
    lfs: bool = True
    advertised_sha256: str | None = None
    advertised_size: int | None = None
    truncate_to: int | None = None


class FakeHub:
    """Start with ``with FakeHub() as hub:``; ``hub.endpoint`` is the value for ``HF_ENDPOINT``."""

    def __init__(self) -> None:
        self.hub_files: dict[tuple[str, str, str], HostedFile] = {}
        self.plain_files: dict[str, HostedFile] = {}
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_hub_file(self, repo: str, revision: str, filename: str, content: bytes, **faults) -> None:
        self.hub_files[(repo, revision, filename)] = HostedFile(content, commit=revision, **faults)

    def add_plain_file(self, path: str, content: bytes, **faults) -> str:
        """Serve ``content`` at ``/files/{path}``; returns its URL."""
        self.plain_files[path] = HostedFile(content, **faults)
        return f"{self.endpoint}/files/{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append((self.command, path))
            if path.startswith("/files/"):
                hosted = hub.plain_files.get(path[len("/files/") :])
                headers = {}
            else:
                hosted, headers = _hub_lookup(hub, path)
            if hosted is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(hosted.content)))
            self.end_headers()
            if body:
                sent = hosted.content if hosted.truncate_to is None else hosted.content[: hosted.truncate_to]
                self.wfile.write(sent)
                if hosted.truncate_to is not None:
                    self.wfile.flush()
                    self.close_connection = True

    return Handler


def _hub_lookup(hub: FakeHub, path: str) -> tuple[HostedFile | None, dict[str, str]]:
    """``/{org}/{name}/resolve/{revision}/{filename}`` -> the hosted file and its Hub headers."""
    parts = path.lstrip("/").split("/")
    if len(parts) < 5 or parts[2] != "resolve":
        return None, {}
    repo, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
    hosted = hub.hub_files.get((repo, revision, filename))
    if hosted is None:
        return None, {}
    content = hosted.content
    headers = {"X-Repo-Commit": hosted.commit or revision}
    if hosted.lfs:
        sha256 = hosted.advertised_sha256 or hashlib.sha256(content).hexdigest()
        headers.update(
            {
                "ETag": f'"{sha256}"',
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(hosted.advertised_size or len(content)),
            }
        )
    else:
        blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        headers["ETag"] = f'"{blob}"'
    return hosted, headers


def point_clients_at(hub: FakeHub, monkeypatch, tmp_path) -> None:
    """Route this test's Hub and URL traffic to ``hub`` and switch offline mode off.

    ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` at import time (``conftest`` sets it to 1), so the
    constant is patched as well as the variable. ``HF_ENDPOINT`` is read by our code at call time.
    The Hub client's own cache is moved into ``tmp_path``; its once-a-day "agent harness" registry
    fetch is served from an empty local copy so that no request leaves the machine.
    """
    import json

    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub-cache"))
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("ANIMEINTERP_URL_REWRITE", "")
    registry = tmp_path / "agent_harnesses.json"
    registry.write_text(json.dumps({"standardEnvVars": [], "harnesses": {}}))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(registry), raising=False)
