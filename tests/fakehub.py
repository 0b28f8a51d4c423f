"""A small Hugging Face Hub on 127.0.0.1, for the uploads and downloads that `datasets` and
`huggingface_hub` make: repo info and creation, preupload, the LFS batch API (basic transfer), commits
(NDJSON, regular and LFS files, deletions), tree and paths-info listings, and file downloads.

Point a process at it with `HF_ENDPOINT=hub.url` and `HF_HUB_DISABLE_XET=1`: with `hf_xet` installed,
huggingface_hub uploads large files through Xet storage, a protocol this server does not speak (the Hub
still accepts the LFS route, which is what is tested here; how the bytes travel is huggingface_hub's job).

Faults: `fail["commit"] = (status, count)` answers the next `count` commits with `status`.
Every request is kept (`requests`), so a test can look for a token in anything sent but the header.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LFS_SUFFIXES = (".parquet", ".arrow", ".safetensors", ".bin", ".gguf")


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=lambda: {".gitattributes": b"*.parquet filter=lfs\n"})
    commits: list[str] = field(default_factory=lambda: ["initial commit"])
    private: bool = False

    @property
    def sha(self) -> str:
        """Changes with every commit, as a git commit id does."""
        digest = hashlib.sha1(str(len(self.commits)).encode())
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + hashlib.sha1(self.files[path]).digest())
        return digest.hexdigest()


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self.fail: dict[str, tuple[int, int]] = {}
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def env(self) -> dict[str, str]:
        return {"HF_ENDPOINT": self.url, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0",
                "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip

    def _take_fault(self, name: str) -> int | None:
        with self.lock:
            status, count = self.fail.get(name, (0, 0))
            if count <= 0:
                return None
            self.fail[name] = (status, count - 1)
            return status


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any = b"", kind: str = "application/json", **headers: str) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _not_found(self, code: str) -> None:
        self._reply(404, {"error": code}, X_Error_Code=code)

    def _handle(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b""
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        self.hub.requests.append(Request(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body))
        verb = "GET" if self.command == "HEAD" else self.command
        for method, pattern, name in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match and method == verb:
                getattr(self, name)(body, *match.groups())
                return
        self._reply(404, {"error": f"no route for {self.command} {path}"})

    do_GET = do_POST = do_HEAD = do_PUT = _handle

    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._not_found("RepoNotFound")
        return repo

    def agents(self, body: bytes) -> None:
        self._reply(200, {})

    def info(self, body: bytes, repo_id: str, revision: str | None = None) -> None:
        if repo := self._repo(repo_id):
            siblings = [{"rfilename": p} for p in repo.files]
            self._reply(200, {"id": repo_id, "sha": repo.sha, "private": False, "siblings": siblings})

    def create(self, body: bytes) -> None:
        request = json.loads(body)
        repo_id = "/".join(filter(None, [request.get("organization"), request["name"]]))
        prefix = {"dataset": "datasets/", "space": "spaces/"}.get(request.get("type") or "model", "")
        private = request.get("visibility") == "private" or bool(request.get("private"))  # newer and older clients
        with self.hub.lock:
            self.hub.repos.setdefault(repo_id, Repo(private=private))
        self._reply(200, {"url": f"{self.hub.url}/{prefix}{repo_id}", "name": repo_id, "id": repo_id})

    def validate_yaml(self, body: bytes) -> None:
        self._reply(200, {"errors": [], "warnings": []})

    def preupload(self, body: bytes, repo_id: str, revision: str) -> None:
        if self._repo(repo_id):
            modes = [{"path": f["path"], "shouldIgnore": False,
                      "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular"}
                     for f in json.loads(body)["files"]]  # fmt: skip
            self._reply(200, {"files": modes})

    def lfs_batch(self, body: bytes, repo_id: str) -> None:
        objects = [
            {"oid": o["oid"], "size": o["size"], "authenticated": True,
             "actions": {"upload": {"href": f"{self.hub.url}/lfs-upload/{o['oid']}", "header": {}}}}
            for o in json.loads(body)["objects"] if o["oid"] not in self.hub.blobs
        ]  # fmt: skip
        self._reply(200, {"transfer": "basic", "objects": objects})

    def lfs_upload(self, body: bytes, oid: str) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            self._reply(400, {"error": "the content does not match its oid"})
            return
        self.hub.blobs[oid] = body
        self._reply(200, {})

    def commit(self, body: bytes, repo_id: str, revision: str) -> None:
        if (status := self.hub._take_fault("commit")) is not None:
            self._reply(status, {"error": "injected"})
            return
        if not (repo := self._repo(repo_id)):
            return
        with self.hub.lock:
            for line in body.decode().splitlines():
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "header":
                    repo.commits.append(value["summary"])
                elif key == "file":
                    repo.files[value["path"]] = base64.b64decode(value["content"])
                elif key == "lfsFile":
                    repo.files[value["path"]] = self.hub.blobs[value["oid"]]
                elif key == "deletedFile":
                    repo.files.pop(value["path"], None)
        url = f"{self.hub.url}/datasets/{repo_id}/commit/{repo.sha}"
        self._reply(200, {"commitUrl": url, "commitOid": repo.sha, "pullRequestUrl": None})

    def _entry(self, path: str, repo: Repo) -> dict[str, Any]:
        if path in repo.files:
            data = repo.files[path]
            return {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
        return {"type": "directory", "path": path, "size": 0, "oid": "0" * 40}

    def tree(self, body: bytes, repo_id: str, revision: str, prefix: str = "") -> None:
        if not (repo := self._repo(repo_id)):
            return
        prefix = prefix.strip("/")
        under = [p[len(prefix) + 1 :] if prefix else p for p in repo.files if not prefix or p.startswith(prefix + "/")]
        if prefix and not under:
            self._not_found("EntryNotFound")
            return
        children = sorted({rest.split("/")[0] for rest in under})
        self._reply(200, [self._entry(f"{prefix}/{c}" if prefix else c, repo) for c in children])

    def paths_info(self, body: bytes, repo_id: str, revision: str) -> None:
        if not (repo := self._repo(repo_id)):
            return
        try:
            paths = json.loads(body)["paths"]
        except (ValueError, KeyError):
            paths = urllib.parse.parse_qs(body.decode()).get("paths", [])
        found = [p for p in paths if p in repo.files or any(f.startswith(p.rstrip("/") + "/") for f in repo.files)]
        self._reply(200, [self._entry(p, repo) for p in found])

    def resolve(self, body: bytes, repo_id: str, revision: str, path: str) -> None:
        if not (repo := self._repo(repo_id)):
            return
        if path not in repo.files:
            self._not_found("EntryNotFound")
            return
        data = repo.files[path]
        etag = '"' + hashlib.sha1(data).hexdigest() + '"'
        self._reply(200, data, kind="application/octet-stream", X_Repo_Commit=repo.sha, ETag=etag)


_REPO = r"(?:datasets/|models/|spaces/)?([^/]+/[^/]+?)"
_ROUTES = [
    ("GET", r"/api/agent-harnesses", "agents"),
    ("GET", rf"/api/{_REPO}", "info"),
    ("GET", rf"/api/{_REPO}/revision/(.+)", "info"),
    ("POST", r"/api/repos/create", "create"),
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("POST", rf"/api/{_REPO}/preupload/([^/]+)", "preupload"),
    ("POST", rf"/{_REPO}\.git/info/lfs/objects/batch", "lfs_batch"),
    ("PUT", r"/lfs-upload/([0-9a-f]{64})", "lfs_upload"),
    ("POST", rf"/api/{_REPO}/commit/([^/]+)", "commit"),
    ("GET", rf"/api/{_REPO}/tree/([^/]+)/?(.*)", "tree"),
    ("POST", rf"/api/{_REPO}/paths-info/([^/]+)", "paths_info"),
    ("GET", rf"/{_REPO}/resolve/([^/]+)/(.+)", "resolve"),
]
