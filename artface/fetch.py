"""Fetch stage: many URLs, concurrently, with timeouts, retries, a size limit and a cache.

Each URL ends as a ``FetchResult`` with a status (``ok``, ``http_404``, ``timeout``,
``truncated``, ``too_large``, ...): nothing raises out of ``fetch_many``, so one bad URL
never stops a build. Successful bodies are cached by URL (sha256 of the URL), so a re-run
downloads only what failed before. http(s) goes through a pooled httpx client; local paths
and other fsspec URLs through fsspec.
"""
from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import fsspec
import httpx2 as httpx

T = TypeVar("T")
R = TypeVar("R")

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "artface/0.1 (+https://huggingface.co/artface; dataset builder)"


class UnsupportedURLError(ValueError):
    """A URL scheme the fetch stage refuses (only http(s), local paths and fsspec protocols)."""


@dataclass
class FetchResult:
    url: str
    status: str  # "ok" or a failure reason
    data: bytes | None = None
    http_status: int | None = None
    attempts: int = 0
    detail: str = ""
    from_cache: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class FetchConfig:
    timeout: float = 30.0  # seconds without progress (connect/read), and 4x that in total
    retries: int = 3  # extra attempts on 429/5xx/timeouts/truncation
    backoff: float = 0.5  # first wait, doubled each retry (with jitter), capped at 30 s
    max_bytes: int = 64 * 1024 * 1024
    concurrency: int = 16
    cache_dir: Path | None = None
    headers: dict = field(default_factory=dict)


def url_scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    return "" if len(scheme) == 1 else scheme  # "C:\\..." is a path


def check_url(url: str) -> str:
    """Accept http(s), local paths and fsspec protocols; refuse the rest with a clear error."""
    scheme = url_scheme(url)
    if scheme in ("", "file", "http", "https"):
        return scheme
    if scheme in fsspec.available_protocols() and scheme not in ("data", "memory"):
        return scheme
    raise UnsupportedURLError(f"refusing URL {url!r}: only http(s), local paths and fsspec URLs are fetched")


class Fetcher:
    """Thread-pooled fetching with a shared connection pool and an on-disk cache."""

    def __init__(self, config: FetchConfig | None = None) -> None:
        self.config = config or FetchConfig()
        self._local = threading.local()
        limits = httpx.Limits(max_connections=self.config.concurrency, max_keepalive_connections=self.config.concurrency)
        self.client = httpx.Client(
            timeout=httpx.Timeout(self.config.timeout),
            limits=limits,
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT, **self.config.headers},
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- cache -------------------------------------------------------------------------------
    def _cache_path(self, url: str) -> Path | None:
        if self.config.cache_dir is None:
            return None
        h = hashlib.sha256(url.encode()).hexdigest()
        return Path(self.config.cache_dir) / h[:2] / h

    def _cache_put(self, path: Path | None, data: bytes) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    # -- one URL -----------------------------------------------------------------------------
    def fetch(self, url: str) -> FetchResult:
        try:
            scheme = check_url(url)
        except UnsupportedURLError as exc:
            return FetchResult(url, "unsupported_url", detail=str(exc))
        cpath = self._cache_path(url) if scheme in ("http", "https") else None
        if cpath is not None and cpath.is_file():
            return FetchResult(url, "ok", cpath.read_bytes(), 200, 0, from_cache=True)
        if scheme in ("http", "https"):
            res = self._fetch_http(url)
        else:
            res = self._fetch_fs(url)
        if res.ok:
            self._cache_put(cpath, res.data)  # type: ignore[arg-type]
        return res

    def _fetch_fs(self, url: str) -> FetchResult:
        try:
            with fsspec.open(url, "rb") as f:
                data = f.read(self.config.max_bytes + 1)
        except FileNotFoundError:
            return FetchResult(url, "not_found", attempts=1, detail="no such file")
        except OSError as exc:
            return FetchResult(url, "io_error", attempts=1, detail=str(exc))
        if len(data) > self.config.max_bytes:
            return FetchResult(url, "too_large", attempts=1, detail=f"over {self.config.max_bytes} bytes")
        return FetchResult(url, "ok", data, attempts=1)

    def _fetch_http(self, url: str) -> FetchResult:
        cfg = self.config
        res = FetchResult(url, "error")
        for attempt in range(cfg.retries + 1):
            res = self._http_once(url)
            res.attempts = attempt + 1
            if res.ok or not _retryable(res):
                return res
            if attempt < cfg.retries:
                wait = min(30.0, cfg.backoff * 2**attempt) * (0.5 + random.random())
                if res.detail.startswith("retry-after="):
                    wait = min(30.0, max(wait, float(res.detail.split("=", 1)[1])))
                time.sleep(wait)
        return res

    def _http_once(self, url: str) -> FetchResult:
        cfg = self.config
        deadline = time.monotonic() + 4 * cfg.timeout
        try:
            with self.client.stream("GET", url) as r:
                if r.status_code != 200:
                    detail = ""
                    ra = r.headers.get("retry-after", "")
                    if r.status_code == 429 and ra.isdigit():
                        detail = f"retry-after={ra}"
                    return FetchResult(url, f"http_{r.status_code}", http_status=r.status_code, detail=detail)
                length = r.headers.get("content-length")
                if length and length.isdigit() and int(length) > cfg.max_bytes:
                    return FetchResult(url, "too_large", http_status=200, detail=f"content-length {length} > {cfg.max_bytes}")
                chunks, total = [], 0
                for chunk in r.iter_bytes():
                    total += len(chunk)
                    if total > cfg.max_bytes:
                        return FetchResult(url, "too_large", http_status=200, detail=f"body over {cfg.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        return FetchResult(url, "timeout", http_status=200, detail=f"body slower than {4 * cfg.timeout:.0f} s in total")
                    chunks.append(chunk)
                data = b"".join(chunks)
                if length and length.isdigit() and len(data) != int(length):
                    return FetchResult(url, "truncated", http_status=200, detail=f"got {len(data)} of {length} bytes")
                return FetchResult(url, "ok", data, 200)
        except httpx.TimeoutException as exc:
            return FetchResult(url, "timeout", detail=f"no response within {cfg.timeout:.0f} s ({type(exc).__name__})")
        except httpx.RemoteProtocolError as exc:
            return FetchResult(url, "truncated", detail=f"connection closed early ({exc})")
        except httpx.TransportError as exc:
            return FetchResult(url, "connection_error", detail=f"{type(exc).__name__}: {exc}")
        except httpx.InvalidURL as exc:
            return FetchResult(url, "unsupported_url", detail=str(exc))

    # -- many URLs ---------------------------------------------------------------------------
    def fetch_many(self, urls: Iterable[str]) -> Iterator[FetchResult]:
        """Fetch concurrently; results come back in input order."""
        yield from ordered_map(self.fetch, urls, workers=self.config.concurrency)


def _retryable(res: FetchResult) -> bool:
    if res.http_status is not None and res.http_status != 200:
        return res.http_status in RETRY_STATUS
    return res.status in ("timeout", "truncated", "connection_error")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None) -> Iterator[R]:
    """``map`` over a thread pool keeping at most ``window`` items in flight, in input order."""
    window = window or workers * 4
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def read_bytes(url_or_path: str, fetcher: Fetcher | None = None) -> bytes:
    """Read one metadata file (local, http(s) or fsspec) in binary, raising on failure."""
    own = fetcher is None
    fetcher = fetcher or Fetcher(FetchConfig(retries=2))
    try:
        res = fetcher.fetch(str(url_or_path))
    finally:
        if own:
            fetcher.close()
    if not res.ok:
        raise OSError(f"could not read {url_or_path}: {res.status} {res.detail}".strip())
    return res.data  # type: ignore[return-value]


def join_url(base: str, *parts: str) -> str:
    """Join a directory URL or path with relative parts."""
    if url_scheme(base) in ("", "file") and not base.startswith("file:"):
        return str(Path(base, *parts))
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])
