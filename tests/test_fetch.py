"""The fetch stage against a real HTTP server on 127.0.0.1 (no mocks)."""
import socket

import pytest

from artface.fetch import Fetcher, FetchConfig
from artface.paths import safe_join, safe_name


@pytest.fixture
def fetcher(tmp_path):
    f = Fetcher(FetchConfig(timeout=0.5, retries=2, backoff=0.05, cache_dir=tmp_path / "cache", max_bytes=1000))
    yield f
    f.close()


def test_ok_and_cached(http_server, fetcher):
    url = http_server.add("/a.jpg", b"abc")
    r = fetcher.fetch(url)
    assert r.ok and r.data == b"abc" and not r.from_cache
    r2 = fetcher.fetch(url)
    assert r2.ok and r2.from_cache and http_server.hits("/a.jpg") == 1


def test_404_is_not_retried(http_server, fetcher):
    url = http_server.add("/gone", kind="status", status=404)
    r = fetcher.fetch(url)
    assert r.status == "http_404" and r.attempts == 1 and http_server.hits("/gone") == 1


def test_5xx_and_429_are_retried_with_backoff(http_server, fetcher):
    url = http_server.add("/flaky", b"ok!", kind="flaky", fail_codes=[500, 429])
    r = fetcher.fetch(url)
    assert r.ok and r.data == b"ok!" and r.attempts == 3


def test_persistent_500_gives_up(http_server, fetcher):
    url = http_server.add("/down", kind="status", status=503)
    r = fetcher.fetch(url)
    assert r.status == "http_503" and r.attempts == 3
    assert not fetcher.cache.has(url), "failures are not cached: a re-run retries them"


def test_stall_times_out(http_server, fetcher):
    url = http_server.add("/slow", b"late", kind="stall", delay=2.0)
    r = fetcher.fetch(url)
    assert r.status == "timeout" and r.attempts == 3


def test_truncated_body(http_server, fetcher):
    url = http_server.add("/cut", b"x" * 500, kind="truncate")
    r = fetcher.fetch(url)
    assert r.status == "truncated" and r.data is None


def test_size_limit(http_server, fetcher):
    url = http_server.add("/big", b"x" * 5000)
    r = fetcher.fetch(url)
    assert r.status == "too_large" and r.attempts == 1


def test_many_in_order_with_mixed_outcomes(http_server, fetcher):
    urls = [http_server.add(f"/f{i}", str(i).encode()) for i in range(30)]
    urls[7] = http_server.url + "/missing"
    out = list(fetcher.fetch_many(urls))
    assert [r.url for r in out] == urls
    assert out[7].status == "http_404" and out[8].data == b"8"


def test_only_public_http_urls_are_fetched(tmp_path, fetcher):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"token")
    for url in (str(secret), f"file://{secret}", "hf://datasets/me/private/x.png", f"simplecache::file://{secret}",
                "javascript:alert(1)", "ftp://example.com/x.jpg", "http://user:pw@example.com/x.jpg", ""):
        r = fetcher.fetch(url)
        assert r.status == "unsupported_url" and r.data is None, url


def test_safe_names():
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("a b/c?.jpg") == "a_b_c_.jpg"
    with pytest.raises(ValueError):
        safe_name("../..")
    with pytest.raises(ValueError, match="leaves"):
        safe_join("/tmp/base", "../x")
    with pytest.raises(ValueError, match="leaves"):
        safe_join("/tmp/base", "/etc/passwd")
    assert safe_join("/tmp/base", "unprocessed/a.png").name == "a.png"


# -- hostile servers: every one ends as that URL's failure, never an exception -------------------

def test_redirect_loop_broken_encoding_and_bad_urls_are_failures(http_server, fetcher):
    loop = http_server.add("/loop-a", kind="redirect", location="/loop-b")
    http_server.add("/loop-b", kind="redirect", location="/loop-a")
    assert fetcher.fetch(loop).status == "redirect_loop"
    gz = http_server.add("/gz", b"this is not gzip at all", kind="raw", headers={"Content-Encoding": "gzip"})
    assert fetcher.fetch(gz).status == "decoding_error"
    for bad in ("http://[::1/x.jpg", "http://exa mple.com/x.jpg", "https://" + "a" * 300 + ".com/x.jpg", "http:///x.jpg"):
        r = fetcher.fetch(bad)
        assert not r.ok and r.status in ("invalid_url", "unsupported_url", "connection_error"), (bad, r.status)


def test_redirects_stay_on_http(http_server, fetcher, tmp_path):
    (tmp_path / "secret.txt").write_bytes(b"secret")
    to_file = http_server.add("/to-file", kind="redirect", location=f"file://{tmp_path}/secret.txt")
    r = fetcher.fetch(to_file)
    assert r.status == "redirect_refused" and r.data is None
    ok = http_server.add("/img.jpg", b"pixels")
    hop = http_server.add("/hop", kind="redirect", location=ok)
    assert fetcher.fetch(hop).data == b"pixels"


def test_private_addresses_refused_unless_allowed(http_server, tmp_path, monkeypatch):
    monkeypatch.delenv("ARTFACE_ALLOW_PRIVATE_HOSTS")
    url = http_server.add("/local.jpg", b"from the user's own network")
    with Fetcher(FetchConfig(retries=0)) as strict:
        r = strict.fetch(url)
        assert r.status == "redirect_refused" and "ARTFACE_ALLOW_PRIVATE_HOSTS" in r.detail
    assert http_server.hits("/local.jpg") == 0, "no request was sent"
    with Fetcher(FetchConfig(retries=0, allow_private_hosts=True)) as allowing:
        assert allowing.fetch(url).ok
    lookups = []
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: lookups.append(a[0]) or real(*a, **k))
    by_name = url.replace("127.0.0.1", "localhost")
    with Fetcher(FetchConfig(retries=0)) as strict:
        assert [strict.fetch(f"{by_name}?{i}").status for i in range(5)] == ["redirect_refused"] * 5
    assert lookups.count("localhost") == 1, "a host is checked once a minute, not once a request"


def test_artists_opt_out_is_honoured_by_default(http_server, tmp_path):
    noai = http_server.add("/a.jpg", b"pixels", kind="raw", status=200, headers={"X-Robots-Tag": "noindex, noai"})
    other_bot = http_server.add("/b.jpg", b"pixels", kind="raw", status=200, headers={"X-Robots-Tag": "otherbot: noimageai"})
    ours = http_server.add("/c.jpg", b"pixels", kind="raw", status=200, headers={"X-Robots-Tag": "artface: noimageai"})
    with Fetcher(FetchConfig(retries=0, cache_dir=tmp_path / "c")) as f:
        r = f.fetch(noai)
        assert r.status == "opted_out" and "noai" in r.detail and not f.cache.has(noai)
        assert f.fetch(other_bot).ok and f.fetch(ours).status == "opted_out"
    with Fetcher(FetchConfig(retries=0, respect_optout=False)) as f:
        assert f.fetch(noai).ok
