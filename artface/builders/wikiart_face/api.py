"""The WikiArt API as the original crawler used it (asahi417/wikiart-crawler).

``PaintingsByArtist?id=<artist id>`` pages through an artist's paintings (``{"data": [...],
"paginationToken": ..., "hasMore": ...}``, next page with ``&paginationToken=``);
``Painting?id=<id>`` gives a painting's details (genres, styles, width, height, image). An optional
login (``Api/2/login?accessCode=&secretCode=``) from ``WIKIART_ACCESS_CODE`` / ``WIKIART_SECRET_CODE``
gives a session key sent as ``authSessionKey=``; it lives in memory only, is never written and is
masked in every message.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

from ...fetch import Fetcher, FetchConfig, ordered_map
from ...sources import MetadataError, SourceError

#: WikiArt's stand-in for images it may not show (copyright): such artists are skipped and counted
PLACEHOLDER = "FRAME-600x480"


#: pages of one artist's listing read at most (a listing that pages forever is cut and counted)
MAX_PAGES = 200


class WikiArtAPI:
    def __init__(self, root: str, concurrency: int = 8, timeout: float = 30.0) -> None:
        self.root = root.rstrip("/")
        self.fetcher = Fetcher(FetchConfig(retries=3, timeout=timeout, concurrency=concurrency, allow_private_hosts=True,
                                           max_bytes=32 * 2**20))
        self._key: str | None = None
        self._secrets = [s for s in (os.environ.get("WIKIART_ACCESS_CODE"), os.environ.get("WIKIART_SECRET_CODE")) if s]
        self._login()

    def close(self) -> None:
        self.fetcher.close()

    def _mask(self, text: str) -> str:
        """``text`` with every credential and the session key hidden, in every spelling a URL or a
        message may give it (as is, URL-quoted, form-quoted)."""
        for secret in sorted({*self._secrets, *([self._key] if self._key else [])}, key=len, reverse=True):
            for form in {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, "***")
        return text

    def _get(self, path: str) -> dict | None:
        """JSON of an API path (None for 404); other failures are a SourceError naming the URL."""
        url = f"{self.root}/{path}"
        if self._key:
            url += f"&authSessionKey={quote(self._key)}"
        res = self.fetcher.fetch(url)
        if res.status == "http_404":
            return None
        if not res.ok:
            raise SourceError(self._mask(f"wikiart_face: the WikiArt API failed at {url}: {res.status} {res.detail}"))
        try:
            data = json.loads(res.data or b"")
        except ValueError as exc:
            raise MetadataError(self._mask(f"wikiart_face: {url}: not JSON ({exc})")) from None
        if not isinstance(data, dict):
            raise MetadataError(self._mask(f"wikiart_face: {url}: expected a JSON object"))
        return data

    def _login(self) -> None:
        access, secret = os.environ.get("WIKIART_ACCESS_CODE"), os.environ.get("WIKIART_SECRET_CODE")
        if not (access and secret):
            return
        try:
            data = self._get(f"en/Api/2/login?accessCode={quote(access)}&secretCode={quote(secret)}")
        except (SourceError, MetadataError) as exc:  # its message is masked: the codes are in the login URL
            raise SourceError(f"wikiart_face: the WikiArt API login failed: {exc}") from None
        key = (data or {}).get("SessionKey")
        if not isinstance(key, str) or not key:
            raise SourceError("wikiart_face: the WikiArt API login gave no session key: check WIKIART_ACCESS_CODE and "
                              "WIKIART_SECRET_CODE")
        self._key = key

    def paintings_by_artist(self, artist_id: str, skipped: dict | None = None) -> Iterator[dict] | None:
        """The artist's paintings, page after page, lazily; None when the API does not know the artist.
        A malformed page ends that artist's listing, a listing past ``MAX_PAGES`` is cut: both counted
        in ``skipped``, neither ends the crawl."""
        skipped = skipped if skipped is not None else {}
        try:
            first = self._get(f"en/api/2/PaintingsByArtist?id={quote(artist_id)}")
        except MetadataError:
            skipped["malformed_listing_page"] = skipped.get("malformed_listing_page", 0) + 1
            return iter(())
        if first is None:
            return None

        def pages() -> Iterator[dict]:
            page, seen = first, set()
            for _ in range(MAX_PAGES):
                data = page.get("data")
                for item in data if isinstance(data, list) else []:
                    if isinstance(item, dict):
                        yield item
                token = page.get("paginationToken")
                if not page.get("hasMore") or not token or token in seen:  # a repeated token would loop forever
                    return
                seen.add(token)
                try:
                    page = self._get(f"en/api/2/PaintingsByArtist?id={quote(artist_id)}"
                                      f"&paginationToken={quote(str(token))}") or {}
                except MetadataError:
                    skipped["malformed_listing_page"] = skipped.get("malformed_listing_page", 0) + 1
                    return
            skipped["listing_over_max_pages"] = skipped.get("listing_over_max_pages", 0) + 1

        return pages()

    def painting(self, pid: str) -> dict | None:
        """A painting's details; None when unknown or malformed (the caller falls back to the listing's)."""
        try:
            return self._get(f"en/api/2/Painting?id={quote(pid)}")
        except MetadataError:
            return None

    def paintings(self, ids, window: int | None = None) -> Iterator[dict | None]:
        """Details of many paintings, fetched concurrently and lazily (a consumer that stops early
        stops the requests, but for the few in flight), in order; None for an unknown or malformed one."""
        workers = min(self.fetcher.config.concurrency, window or self.fetcher.config.concurrency)
        yield from ordered_map(self.painting, ids, workers=workers, window=window or None)
