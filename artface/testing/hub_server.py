"""A small Hub-protocol server on 127.0.0.1 for offline tests of pushing and loading.

No pip package ships one, so this implements what huggingface_hub (with HF_HUB_DISABLE_XET=1)
and datasets use: repo create/info/settings, preupload, validate-yaml, NDJSON commit, LFS
batch + PUT, tree and paths-info, and resolve with HEAD and Range. Repos live in memory as
immutable commit snapshots, so a commit is atomic: a failed or interrupted publish leaves
the previous revision as it was. Every request (with its headers) is logged for inspection.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LFS_EXTENSIONS = (".parquet", ".arrow", ".png", ".jpg", ".jpeg", ".webp", ".zip", ".bin", ".onnx")


from huggingface_hub.utils.sha import git_hash as git_sha1  # git's blob id, as the Hub computes it


@dataclass
class Blob:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    gated: str | bool = False
    commits: list[tuple[str, dict[str, Blob], str]] = field(default_factory=list)  # main: (oid, snapshot, message)
    branches: dict[str, list[tuple[str, dict[str, Blob], str]]] = field(default_factory=dict)  # other branches
    prs: list[list[tuple[str, dict[str, Blob], str]]] = field(default_factory=list)  # refs/pr/<n + 1>

    @property
    def head(self) -> tuple[str, dict[str, Blob]]:
        return self.commits[-1][0], self.commits[-1][1]

    def history(self, rev: str) -> list | None:
        """The commit list a revision name points at (main, a branch or refs/pr/N), or None."""
        if rev in ("main", "HEAD"):
            return self.commits
        if rev in self.branches:
            return self.branches[rev]
        if rev.startswith("refs/pr/") and rev[8:].isdigit() and 0 < int(rev[8:]) <= len(self.prs):
            return self.prs[int(rev[8:]) - 1]
        return None

    def snapshot(self, rev: str) -> tuple[str, dict[str, Blob]] | None:
        hist = self.history(rev)
        if hist is not None:
            return hist[-1][0], hist[-1][1]
        for oid, files, _ in [c for h in (self.commits, *self.branches.values(), *self.prs) for c in h]:
            if oid == rev:
                return oid, files
        return None


class HubServer:
    def __init__(self, token: str = "hf_test_token_do_not_print") -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.log: list[dict] = []
        self.fail_next_commit = False  # simulate a server error at commit time
        self.before_next_commit = None  # a callable run before the next commit is applied (simulates a race)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stall per response)

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server._dispatch(self, "GET")

            def do_HEAD(self) -> None:  # noqa: N802
                server._dispatch(self, "HEAD")

            def do_POST(self) -> None:  # noqa: N802
                server._dispatch(self, "POST")

            def do_PUT(self) -> None:  # noqa: N802
                server._dispatch(self, "PUT")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> HubServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- plumbing ----------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self._lock:
            self.log.append({"method": method, "path": path, "headers": {k.lower(): v for k, v in h.headers.items()}})
        authed = h.headers.get("Authorization", "") == f"Bearer {self.token}"
        routes = [
            ("POST", r"/api/repos/create", self._create),
            ("GET", r"/api/whoami-v2", self._whoami),
            ("POST", r"/api/validate-yaml", self._validate_yaml),
            ("GET", r"/api/datasets/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?", self._info),
            ("PUT", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/settings", self._settings),
            ("POST", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)", self._preupload),
            ("POST", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>.+)", self._commit),
            ("POST", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/branch/(?P<branch>[^/]+)", self._branch),
            ("GET", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?P<sub>/.*)?", self._tree),
            ("POST", r"/api/datasets/(?P<repo>[^/]+/[^/]+)/paths-info/(?P<rev>[^/]+)", self._paths_info),
            ("POST", r"/datasets/(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch", self._lfs_batch),
            ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", self._lfs_put),
            ("GET", r"/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self._resolve),
            ("HEAD", r"/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self._resolve),
        ]
        for m, pattern, fn in routes:
            match = re.fullmatch(pattern, path)
            if match and m == method:
                try:
                    return fn(h, method, match.groupdict(), query, body, authed)
                except Exception as exc:  # noqa: BLE001 - report server bugs as 500s to the client
                    return self._json(h, 500, {"error": f"{type(exc).__name__}: {exc}"})
        return self._json(h, 404, {"error": f"no route for {method} {path}"})

    def _json(self, h, code: int, obj, headers: dict | None = None, method: str = "GET") -> None:
        data = json.dumps(obj).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(data)

    def _repo(self, h, repo_id: str, authed: bool, method: str = "GET", write: bool = False) -> Repo | None:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and not authed):
            self._json(h, 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}, method)
            return None
        if write and not authed:
            self._json(h, 401, {"error": "Invalid credentials"}, method=method)
            return None
        return repo

    # -- endpoints -----------------------------------------------------------------------------
    def _whoami(self, h, method, g, q, body, authed):
        if not authed:
            return self._json(h, 401, {"error": "Invalid credentials"})
        return self._json(h, 200, {"type": "user", "name": "tester", "orgs": [], "auth": {"type": "access_token"}})

    def _create(self, h, method, g, q, body, authed):
        if not authed:
            return self._json(h, 401, {"error": "Invalid credentials"})
        req = json.loads(body or b"{}")
        repo_id = f"{req.get('organization') or 'tester'}/{req['name']}"
        url = f"{self.url}/datasets/{repo_id}"
        if repo_id in self.repos:
            return self._json(h, 409, {"error": "You already created this dataset repo", "url": url})
        repo = Repo(repo_id, private=bool(req.get("private")) or req.get("visibility") == "private")
        gitattributes = Blob(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n", False)
        snap = {".gitattributes": gitattributes}
        repo.commits.append((self._oid(snap, ""), snap, "initial commit"))
        self.repos[repo_id] = repo
        return self._json(h, 200, {"url": url, "name": repo_id})

    def _info(self, h, method, g, q, body, authed):
        repo = self._repo(h, g["repo"], authed)
        if repo is None:
            return None
        snap = repo.snapshot(g.get("rev") or "main")
        if snap is None:
            return self._json(h, 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
        oid, files = snap
        org, name = repo.repo_id.split("/")
        return self._json(h, 200, {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest(), "id": repo.repo_id, "author": org, "sha": oid,  # noqa: S324
            "private": repo.private, "gated": repo.gated, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
            "lastModified": dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "createdAt": "2026-01-01T00:00:00.000Z",
            "siblings": [{"rfilename": p} for p in sorted(files)],
        })

    def _settings(self, h, method, g, q, body, authed):
        repo = self._repo(h, g["repo"], authed, write=True)
        if repo is None:
            return None
        req = json.loads(body or b"{}")
        if "gated" in req:
            repo.gated = req["gated"]
        if "private" in req:
            repo.private = bool(req["private"])
        if "visibility" in req:  # huggingface_hub >= 1.x sends visibility
            repo.private = req["visibility"] == "private"
        return self._json(h, 200, {})

    def _validate_yaml(self, h, method, g, q, body, authed):
        from artface.cards import check_card

        req = json.loads(body or b"{}")
        problems = check_card(req.get("content", ""))
        if problems:
            return self._json(h, 400, {"error": "; ".join(problems)})
        return self._json(h, 200, {"errors": [], "warnings": []})

    def _preupload(self, h, method, g, q, body, authed):
        repo = self._repo(h, g["repo"], authed, write=True)
        if repo is None:
            return None
        snap = repo.snapshot(g["rev"]) or repo.snapshot("main")
        out = []
        for f in json.loads(body)["files"]:
            lfs = f["path"].endswith(LFS_EXTENSIONS) or f["size"] > 10 * 2**20
            item = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            there = snap[1].get(f["path"])
            if there is not None:  # as the Hub: the remote file's oid, so that clients skip unchanged files
                item["oid"] = there.sha256 if there.lfs else git_sha1(there.data)
            out.append(item)
        return self._json(h, 200, {"files": out, "commitOid": snap[0]})

    def _lfs_batch(self, h, method, g, q, body, authed):
        repo = self._repo(h, g["repo"], authed, write=True)
        if repo is None:
            return None
        req = json.loads(body)
        objects = []
        for o in req["objects"]:
            entry = {"oid": o["oid"], "size": o["size"]}
            if o["oid"] not in self.lfs:
                entry["actions"] = {"upload": {"href": f"{self.url}/lfs-upload/{o['oid']}"}}
            objects.append(entry)
        return self._json(h, 200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"})

    def _lfs_put(self, h, method, g, q, body, authed):
        if hashlib.sha256(body).hexdigest() != g["oid"]:
            return self._json(h, 400, {"error": "sha256 mismatch"})
        self.lfs[g["oid"]] = body
        return self._json(h, 200, {})

    @staticmethod
    def _oid(snap: dict[str, Blob], message: str) -> str:
        h = hashlib.sha1(message.encode())  # noqa: S324 - a commit id
        for p in sorted(snap):
            h.update(p.encode() + b"\0" + git_sha1(snap[p].data).encode())
        return h.hexdigest()

    def _commit(self, h, method, g, q, body, authed):
        repo = self._repo(h, g["repo"], authed, write=True)
        if repo is None:
            return None
        if self.fail_next_commit:
            self.fail_next_commit = False
            return self._json(h, 500, {"error": "simulated failure while committing"})
        hook, self.before_next_commit = self.before_next_commit, None
        if hook is not None:  # another writer commits first (a race): this commit's parent is then stale
            hook()
        history = repo.history(g["rev"])
        if history is None:
            return self._json(h, 404, {"error": f"Invalid rev id: {g['rev']}"}, {"X-Error-Code": "RevisionNotFound"})
        create_pr = q.get("create_pr", ["0"])[0] in ("1", "true", "True")
        if create_pr:  # a pull request on top of the revision; main stays as it is
            history = list(history[-1:])
            repo.prs.append(history)
        head_oid, head = history[-1][0], history[-1][1]
        snap = dict(head)
        message = ""
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value.get("summary", "")
                parent = value.get("parentCommit")
                if parent and parent != head_oid:
                    return self._json(h, 412, {"error": "parent commit is not the head"})
            elif key == "file":
                data = base64.b64decode(value["content"]) if value.get("encoding") == "base64" else value["content"].encode()
                snap[value["path"]] = Blob(data, False)
            elif key == "lfsFile":
                if value["oid"] not in self.lfs:
                    return self._json(h, 422, {"error": f"LFS object {value['oid']} was not uploaded"})
                snap[value["path"]] = Blob(self.lfs[value["oid"]], True)
            elif key == "deletedFile":
                snap.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                snap = {p: b for p, b in snap.items() if not p.startswith(prefix)}
            else:
                return self._json(h, 400, {"error": f"unknown commit key {key}"})
        oid = self._oid(snap, message + str(sum(len(x) for x in (repo.commits, *repo.branches.values(), *repo.prs))))
        history.append((oid, snap, message))
        out = {"success": True, "commitOid": oid, "commitUrl": f"{self.url}/datasets/{repo.repo_id}/commit/{oid}"}
        if create_pr:
            out["pullRequestUrl"] = f"{self.url}/datasets/{repo.repo_id}/discussions/{len(repo.prs)}"
        return self._json(h, 200, out)

    def _branch(self, h, method, g, q, body, authed):
        repo = self._repo(h, g["repo"], authed, write=True)
        if repo is None:
            return None
        if g["branch"] in repo.branches:
            return self._json(h, 409, {"error": "Reference already exists"})
        start = json.loads(body or b"{}").get("startingPoint") or "main"
        hist = repo.history(start)
        found = hist[-1] if hist is not None else next((c for hh in (repo.commits, *repo.branches.values(), *repo.prs)
                                                        for c in hh if c[0] == start), None)
        if found is None:
            return self._json(h, 404, {"error": f"Invalid rev id: {start}"}, {"X-Error-Code": "RevisionNotFound"})
        repo.branches[g["branch"]] = [found]
        return self._json(h, 200, {})

    def _entry(self, path: str, blob: Blob | None) -> dict:
        if blob is None:
            return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}  # noqa: S324
        e = {"type": "file", "oid": git_sha1(blob.data), "size": len(blob.data), "path": path}
        if blob.lfs:
            e["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": 134}
            e["oid"] = git_sha1(f"version https://git-lfs.github.com/spec/v1\noid sha256:{blob.sha256}\nsize {len(blob.data)}\n".encode())
        return e

    def _listing(self, files: dict[str, Blob], sub: str, recursive: bool) -> list[dict] | None:
        prefix = sub.strip("/")
        out, dirs = [], set()
        for p in sorted(files):
            if prefix and not p.startswith(prefix + "/"):
                continue
            rest = p[len(prefix) + 1:] if prefix else p
            parts = rest.split("/")
            for i in range(1, len(parts)):
                d = "/".join(([prefix] if prefix else []) + parts[:i])
                if (recursive or i == 1) and d not in dirs:
                    dirs.add(d)
                    out.append(self._entry(d, None))
            if recursive or len(parts) == 1:
                out.append(self._entry(p, files[p]))
        if prefix and not out and prefix not in files:
            return None
        return out

    def _files_at(self, h, g, authed, method: str = "GET") -> tuple[str, dict[str, Blob]] | None:
        """The repo's (commit, files) at the route's revision; None after answering 404 (as the Hub)."""
        repo = self._repo(h, g["repo"], authed, method)
        if repo is None:
            return None
        snap = repo.snapshot(g["rev"])
        if snap is None:
            self._json(h, 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"}, method)
        return snap

    def _tree(self, h, method, g, q, body, authed):
        snap = self._files_at(h, g, authed)
        if snap is None:
            return None
        listing = self._listing(snap[1], g.get("sub") or "", q.get("recursive", ["false"])[0].lower() == "true")
        if listing is None:
            return self._json(h, 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
        return self._json(h, 200, listing)

    def _paths_info(self, h, method, g, q, body, authed):
        snap = self._files_at(h, g, authed)
        if snap is None:
            return None
        ctype = h.headers.get("Content-Type", "")
        if "json" in ctype:
            paths = json.loads(body).get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        files = snap[1]
        out = []
        for p in paths:
            p = p.strip("/")
            if p in files:
                out.append(self._entry(p, files[p]))
            elif any(f.startswith(p + "/") for f in files):
                out.append(self._entry(p, None))
        return self._json(h, 200, out)

    def _resolve(self, h, method, g, q, body, authed):
        snap = self._files_at(h, g, authed, method)
        if snap is None:
            return None
        oid, files = snap
        blob = files.get(g["file"])
        if blob is None:
            return self._json(h, 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": oid}, method)
        data, status = blob.data, 200
        headers = {"X-Repo-Commit": oid, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        etag = blob.sha256 if blob.lfs else git_sha1(blob.data)
        headers["ETag"] = f'"{etag}"'
        if blob.lfs:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(blob.data))
        rng = h.headers.get("Range")
        if rng and method == "GET":
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m:
                start = int(m[1]) if m[1] else max(0, len(data) - int(m[2]))
                end = int(m[2]) if (m[2] and m[1]) else len(data) - 1
                end = min(end, len(data) - 1)
                if start >= len(data):
                    return self._json(h, 416, {"error": "range not satisfiable"}, {"Content-Range": f"bytes */{len(data)}"})
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                data, status = data[start:end + 1], 206
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if method == "GET":
            h.wfile.write(data)
        return None
