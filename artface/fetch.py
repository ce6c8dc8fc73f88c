"""Fetch stage: many public http(s) URLs, concurrently, with timeouts, retries, limits and a cache.

Each URL ends as a ``FetchResult`` whose status is ``ok`` or a reason of ``failures.REASONS``:
nothing raises out of ``fetch``, so one bad URL never stops a build. Only http(s) is fetched
(metadata can name nothing else), redirects stay on http(s), and by default no request (first
or redirected) may go to a loopback, private or link-local address: set
``ARTFACE_ALLOW_PRIVATE_HOSTS=1`` (or ``FetchConfig.allow_private_hosts``) for a mirror on your
own network or the tests' 127.0.0.1 servers. Bodies are cached by URL; the pipeline evicts a
cached body that does not decode, so an error page is never kept as an image.
"""
from __future__ import annotations

import ipaddress
import os
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx2 as httpx

from ._version import __version__
from .diskcache import DiskCache
from .failures import retryable
from .locations import MAX_IMAGE_BYTES, public_url

T = TypeVar("T")
R = TypeVar("R")

USER_AGENT = f"artface/{__version__} (+https://huggingface.co/artface; dataset builder)"


def private_hosts_allowed() -> bool:
    return os.environ.get("ARTFACE_ALLOW_PRIVATE_HOSTS", "") not in ("", "0", "false", "no")


@dataclass
class FetchResult:
    url: str
    status: str  # "ok" or a failure reason
    data: bytes | None = None
    http_status: int | None = None
    attempts: int = 0
    detail: str = ""
    from_cache: bool = False
    optout: str | None = None  # the server's X-Robots-Tag opt-out, when it sent one and it was not honoured

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class FetchConfig:
    timeout: float = 30.0  # seconds without progress (connect/read), and 4x that in total
    retries: int = 3  # extra attempts for retryable failures (429/5xx, timeouts, truncation)
    backoff: float = 0.5  # first wait, doubled each retry (with jitter), capped at 30 s
    max_bytes: int = MAX_IMAGE_BYTES
    max_redirects: int = 10
    concurrency: int = 16
    cache_dir: Path | None = None
    headers: dict = field(default_factory=dict)
    allow_private_hosts: bool | None = None  # None: from ARTFACE_ALLOW_PRIVATE_HOSTS
    respect_optout: bool = True  # X-Robots-Tag noai / noimageai -> opted_out, as img2dataset does


#: X-Robots-Tag directives by which a server asks that an image not be used for AI training
OPTOUT_DIRECTIVES = ("noai", "noimageai")
OPTOUT_SUFFIX = ".optout"  # beside a cached body: the opt-out directive its server sent


def opted_out(values: list[str]) -> str | None:
    """The opt-out directive in X-Robots-Tag header values (``noai``, ``otherbot: noimageai`` applies
    only to that bot; ``artface: noai`` and unprefixed ones apply to us), else None."""
    for value in values:
        for part in value.split(","):
            agent, sep, directive = part.rpartition(":")
            if sep and agent.strip().lower() not in ("", "*", "artface"):
                continue
            if directive.strip().lower() in OPTOUT_DIRECTIVES:
                return directive.strip().lower()
    return None


HOST_CHECK_TTL = 60.0  # seconds a host's private-address check holds


class _Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _private_address(host: str) -> str | None:
    """The loopback/private/link-local address ``host`` is or resolves to, else None."""
    try:
        addrs = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            addrs = [ipaddress.ip_address(ai[4][0].split("%")[0]) for ai in socket.getaddrinfo(host, None)]
        except (OSError, UnicodeError, ValueError):
            return None  # unresolvable: the request itself will say so
    for a in addrs:
        if a.is_loopback or a.is_private or a.is_link_local or a.is_multicast or a.is_unspecified or a.is_reserved:
            return str(a)
    return None


class Fetcher:
    """Thread-pooled fetching with a shared connection pool and an on-disk cache."""

    def __init__(self, config: FetchConfig | None = None) -> None:
        self.config = config or FetchConfig()
        allow = self.config.allow_private_hosts
        self.allow_private = private_hosts_allowed() if allow is None else allow
        self.cache = DiskCache(self.config.cache_dir) if self.config.cache_dir is not None else None
        self._hosts: dict[str, tuple[float, str | None]] = {}  # host -> (until when, private address or None)
        limits = httpx.Limits(max_connections=self.config.concurrency, max_keepalive_connections=self.config.concurrency)
        self.client = httpx.Client(
            timeout=httpx.Timeout(self.config.timeout),
            limits=limits,
            follow_redirects=True,
            max_redirects=self.config.max_redirects,
            headers={"User-Agent": USER_AGENT, **self.config.headers},
            event_hooks={"request": [self._check_request]},
        )

    def _check_request(self, request: httpx.Request) -> None:
        """Every request, first or redirected: http(s) only, and no private address unless allowed."""
        if request.url.scheme not in ("http", "https"):
            raise _Refused("redirect_refused", f"redirect to a {request.url.scheme}: URL")
        if not self.allow_private:
            addr = self._host_address(request.url.host)
            if addr is not None:
                raise _Refused("redirect_refused", f"{request.url.host} is a loopback/private address ({addr}); "
                                                   "set ARTFACE_ALLOW_PRIVATE_HOSTS=1 to allow it")

    def _host_address(self, host: str) -> str | None:
        """``_private_address`` of ``host``, resolved once a minute, not once a request: a million
        images from one IIIF server are not a million DNS lookups."""
        now = time.monotonic()
        known = self._hosts.get(host)
        if known is None or known[0] < now:
            known = self._hosts[host] = (now + HOST_CHECK_TTL, _private_address(host))
        return known[1]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def evict(self, url: str) -> None:
        """Forget a cached body (it did not decode: an error page, not the image)."""
        if self.cache is not None:
            self.cache.delete(url)
            self.cache.delete(url, OPTOUT_SUFFIX)

    # -- one URL -----------------------------------------------------------------------------
    def fetch(self, url: str) -> FetchResult:
        if public_url(url) is None:
            return FetchResult(str(url), "unsupported_url", detail=f"refusing {str(url)[:200]!r}: only public http(s) URLs are fetched")
        if self.cache is not None:
            data = self.cache.get(url)
            if data is not None:
                directive = (self.cache.get(url, OPTOUT_SUFFIX) or b"").decode()
                if directive and self.config.respect_optout:  # the server's opt-out travels with the cached body
                    return FetchResult(url, "opted_out", http_status=200, detail=f"X-Robots-Tag: {directive} (cached)")
                return FetchResult(url, "ok", data, 200, 0, from_cache=True)
        res = self._fetch_http(url)
        if res.ok and self.cache is not None:
            if res.optout:
                self.cache.put(url, res.optout.encode(), OPTOUT_SUFFIX)
            self.cache.put(url, res.data)  # type: ignore[arg-type]
        return res

    def _fetch_http(self, url: str) -> FetchResult:
        cfg = self.config
        res = FetchResult(url, "error")
        for attempt in range(cfg.retries + 1):
            res = self._http_once(url)
            res.attempts = attempt + 1
            if res.ok or not retryable(res.status):
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
                    ra = r.headers.get("retry-after", "")
                    detail = f"retry-after={ra}" if r.status_code == 429 and ra.isdigit() else f"HTTP {r.status_code}"
                    return FetchResult(url, f"http_{r.status_code}", http_status=r.status_code, detail=detail)
                directive = opted_out(r.headers.get_list("x-robots-tag"))
                if directive and cfg.respect_optout:
                    return FetchResult(url, "opted_out", http_status=200, detail=f"X-Robots-Tag: {directive}")
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
                encoded = r.headers.get("content-encoding", "identity").lower() not in ("", "identity")
                if length and length.isdigit() and not encoded and len(data) != int(length):
                    return FetchResult(url, "truncated", http_status=200, detail=f"got {len(data)} of {length} bytes")
                return FetchResult(url, "ok", data, 200, optout=directive)
        except _Refused as exc:
            return FetchResult(url, exc.reason, detail=exc.detail)
        except httpx.TooManyRedirects:
            return FetchResult(url, "redirect_loop", detail=f"more than {cfg.max_redirects} redirects")
        except httpx.DecodingError as exc:
            return FetchResult(url, "decoding_error", detail=f"broken Content-Encoding ({exc})")
        except httpx.TimeoutException as exc:
            return FetchResult(url, "timeout", detail=f"no response within {cfg.timeout:.0f} s ({type(exc).__name__})")
        except httpx.RemoteProtocolError as exc:
            return FetchResult(url, "truncated", detail=f"connection closed early ({exc})")
        except httpx.UnsupportedProtocol as exc:
            return FetchResult(url, "redirect_refused", detail=str(exc))
        except httpx.TransportError as exc:
            return FetchResult(url, "connection_error", detail=f"{type(exc).__name__}: {exc}")
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
            return FetchResult(url, "invalid_url", detail=f"{type(exc).__name__}: {exc}")
        except httpx.HTTPError as exc:
            return FetchResult(url, "connection_error", detail=f"{type(exc).__name__}: {exc}")

    # -- many URLs ---------------------------------------------------------------------------
    def fetch_many(self, urls: Iterable[str]) -> Iterator[FetchResult]:
        """Fetch concurrently; results come back in input order."""
        yield from ordered_map(self.fetch, urls, workers=self.config.concurrency)


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
