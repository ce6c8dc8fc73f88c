"""A real HTTP server on 127.0.0.1 for fetch and builder tests, with scripted misbehaviour.

Routes map a path to a behaviour: ``ok`` (bytes), ``status`` (a code), ``flaky`` (fail with
the given codes first, then serve), ``stall`` (sleep longer than the client's timeout),
``truncate`` (announce the full length, send part, close), ``redirect`` (to ``location``) and
``raw`` (any status and headers, e.g. a broken Content-Encoding), ``dynamic`` (a function of the
request's path and query, e.g. an API that pages forever). Every request is logged.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Route:
    kind: str = "ok"  # ok | status | flaky | stall | truncate | redirect | raw
    body: bytes = b""
    status: int = 200
    fail_codes: list[int] = field(default_factory=list)  # for flaky
    delay: float = 0.0  # for stall
    content_type: str = "application/octet-stream"
    location: str = ""  # for redirect: the Location header
    headers: dict = field(default_factory=dict)  # for raw: extra headers sent as given
    respond: object = None  # for dynamic: path with query -> (status, body), e.g. an endless listing
    hits: int = 0


class FixtureServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stall per response)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:  # clients that time out hang up: expected
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> FixtureServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, path: str, body: bytes = b"", kind: str = "ok", **kw) -> str:
        """Register a route (a path, or a path with its exact query string); returns its full URL."""
        path = "/" + path.lstrip("/")
        self.routes[path] = Route(kind=kind, body=body, **kw)
        return self.url + path

    def mirror(self, upstream_url: str, body: bytes = b"", kind: str = "ok", **kw) -> str:
        """Serve an upstream URL (``https://host/path?q``) here as ``/host/path``; returns the local
        URL with the query kept. The one way tests stand in for upstream image hosts."""
        u = urlsplit(upstream_url)
        local = self.add(f"/{u.netloc}{u.path}", body, kind, **kw)
        return f"{local}?{u.query}" if u.query else local

    def path_of(self, upstream_url: str) -> str:
        u = urlsplit(upstream_url)
        return f"/{u.netloc}{u.path}"

    def hits(self, path: str) -> int:
        return self.routes["/" + path.lstrip("/")].hits

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.log.append(("GET", path))
            route = self.routes.get(h.path) or self.routes.get(path)  # a route with a query string matches it exactly
            if route is not None:
                route.hits += 1
                hit = route.hits
        if route is None:
            return self._send(h, 404, b"not found")
        if route.kind == "status":
            return self._send(h, route.status, b"error")
        if route.kind == "dynamic":
            status, body = route.respond(h.path)  # type: ignore[operator]
            return self._send(h, status, body, "application/json")
        if route.kind == "flaky" and hit <= len(route.fail_codes):
            return self._send(h, route.fail_codes[hit - 1], b"try again")
        if route.kind == "stall":
            time.sleep(route.delay)
            return self._send(h, 200, route.body, route.content_type)
        if route.kind == "redirect":
            h.send_response(route.status if route.status != 200 else 302)
            h.send_header("Location", route.location)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        if route.kind == "raw":  # hostile headers, e.g. a Content-Encoding the body does not have
            h.send_response(route.status)
            for k, v in route.headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(route.body)))
            h.end_headers()
            h.wfile.write(route.body)
            return None
        if route.kind == "truncate":
            h.send_response(200)
            h.send_header("Content-Type", route.content_type)
            h.send_header("Content-Length", str(len(route.body)))
            h.end_headers()
            h.wfile.write(route.body[: len(route.body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return None
        return self._send(h, 200, route.body, route.content_type)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str = "text/plain") -> None:
        try:
            h.send_response(code)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass
