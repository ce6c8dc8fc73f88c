"""Where upstream data lives: one ``SourceSpec`` per dataset, one way to locate and read it.

``--source`` (``source=``) is the same everywhere: a local folder or file, or an http(s) URL of a
folder or file; without it, the dataset's default upstream (none for manual downloads). Metadata
files are read by name, with a size limit, and decoded here so that errors name the file and
line. Local files named by metadata are reached only through ``Source.file`` (inside the folder).
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from .diskcache import cache_root, fetch_cache_dir
from .errors import MetadataError, SourceError
from .failures import RecordFailure
from .fetch import Fetcher, FetchConfig
from .locations import Location, local_file, public_url, read_file
from .metadata_file import MetadataFile, decode_text  # noqa: F401 - decode_text is read from here too

log = logging.getLogger(__name__)


def max_metadata_bytes() -> int:
    """Metadata files larger than this are refused (``ARTFACE_MAX_METADATA_BYTES``, default 512 MiB;
    the largest upstream file, AAHQ's JSON, is ~10 MB). Archives and parquet sources have their own."""
    return int(os.environ.get("ARTFACE_MAX_METADATA_BYTES", 512 * 2**20))


@dataclass(frozen=True)
class SourceSpec:
    files: tuple[str, ...] = ()  # metadata files the builder reads by name
    default: str | None = None  # upstream location used when no source is given
    hint: str = ""  # what the source should point at, and where to get it
    manual: bool = False  # a manual download: local only, no default
    formats: tuple[str, ...] = ()  # suffixes of whole-source files a source URL may name (e.g. a release .zip)


def parse_json(text: str, name: str):
    """JSON whose errors name the file, line and column, and whose duplicate keys are errors
    (Python's json keeps the last silently, which would drop records)."""
    import json

    def pairs(items: list[tuple[str, object]]) -> dict:
        out: dict = {}
        for k, v in items:
            if k in out:
                raise MetadataError(f"{name}: duplicate key {k!r}")
            out[k] = v
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{name} line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise MetadataError(f"{name}: JSON nested too deeply") from None


def point_pairs(value: object, n: int, where: str) -> list[list[float]]:
    """``n`` finite (x, y) number pairs, or a MetadataError naming ``where``."""
    import math

    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise MetadataError(f"{where}: expected {n} points, got {type(value).__name__}"
                            f"{f' of {len(value)}' if isinstance(value, (list, tuple)) else ''}")
    out = []
    for i, p in enumerate(value):
        if (not isinstance(p, (list, tuple)) or len(p) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)):
            raise MetadataError(f"{where}: point {i} must be two finite numbers, got {str(p)[:60]}")
        out.append([float(p[0]), float(p[1])])
    return out


def split_lines(text: str) -> list[str]:
    """Lines as upstream's readers number them: split at LF only (a CR before it is dropped), so
    characters such as U+2028 inside a line never shift the numbering."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


@dataclass(frozen=True)
class Pin:
    """What an upstream file was when artface last checked it (a dataset folder's ``checksums.tsv``).

    ``url`` is where the file lives at a fixed revision, or, for a file kept in the dataset folder
    (vendored from upstream; the file's comment says from where), its path in that folder."""
    url: str
    size: int
    sha256: str

    @property
    def path(self) -> str | None:
        """The file's path inside upstream's tree, so a local copy of that tree is checked too
        (``https://raw.githubusercontent.com/OWNER/REPO/REV/PATH`` -> ``PATH``; a folder path as is)."""
        parts = urlsplit(self.url)
        if not parts.scheme:
            return self.url
        segments = parts.path.strip("/").split("/")
        return "/".join(segments[3:]) if parts.hostname == "raw.githubusercontent.com" and len(segments) > 3 else None


class UpstreamChanged(SourceError):
    """A pinned upstream file is not what it was: the build stops unless the user accepts the change."""


def read_pins(path: Path) -> dict[str, Pin]:
    """``checksums.tsv`` (as TFDS keeps per dataset folder): url, size, sha256 per line; # comments."""
    pins = {}
    if path.is_file():
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            try:
                url, size, sha = line.split("\t")
                pins[url] = Pin(url, int(size), sha.strip())
            except ValueError:
                raise MetadataError(f"{path} line {n}: expected url<TAB>size<TAB>sha256") from None
    return pins


@dataclass
class UpstreamCheck:
    """The pins a source is checked against, whether a change is accepted, and every file read (for the report)."""
    pins: dict[str, Pin] = field(default_factory=dict)
    accept_change: bool = False
    files: list[dict] = field(default_factory=list)

    def pin_for(self, where: str) -> Pin | None:
        """The pin of the file at ``where``: by its URL, or, for a local file (a clone of upstream's tree,
        a file kept in the dataset folder), by its path in that tree, whole path segments only."""
        if where in self.pins:
            return self.pins[where]
        if urlsplit(where).scheme in ("http", "https"):
            return None  # another server is not the pinned one (a mirror, a test server)
        where = where.replace("\\", "/")
        return next((p for p in self.pins.values() if p.path and (where == p.path or where.endswith("/" + p.path))), None)

    def check_vendored(self, dataset: str, folder: Path) -> None:
        """Files kept in the dataset folder, copied from upstream (pinned by their path in the folder):
        checked like any upstream file read, so an edit without a new pin cannot slip into a build."""
        for pin in self.pins.values():
            if not urlsplit(pin.url).scheme:
                self.check(dataset, str(folder / pin.url), pin.url, (folder / pin.url).read_bytes(), own_copy=False)

    def check(self, dataset: str, where: str, shown: str, data: bytes, own_copy: bool = False) -> None:
        """``check_digest`` of bytes in memory."""
        self.check_digest(dataset, where, shown, len(data), hashlib.sha256(data).hexdigest(), own_copy)

    def check_digest(self, dataset: str, where: str, shown: str, size: int, sha: str, own_copy: bool = False) -> None:
        """Note the file read; stop the build when a pinned file changed. The user's own local copy of a
        pinned tree (``own_copy``: they chose its content) is noted as ``differs`` and a warning, not stopped."""
        pin = self.pin_for(where)
        state = None if pin is None else ("pinned" if (pin.size, pin.sha256) == (size, sha) else
                                          "differs" if own_copy else "changed")
        self.files.append({"file": shown, "size": size, "sha256": sha, "pin": state})
        if state == "differs":
            log.warning("%s: %s differs from the upstream file artface pinned (%s): building from your copy",
                        dataset, where, pin.url)
        if state == "changed" and not self.accept_change:
            raise UpstreamChanged(f"{dataset}: {where} changed upstream since artface pinned it (size {pin.size:,} -> "
                                  f"{size:,}, sha256 {pin.sha256[:12]}... -> {sha[:12]}...); check what changed, "
                                  f"then pass --set accept_upstream_change=true to build from it")


class Source:
    """A located upstream: a local folder or an http(s) base URL, optionally naming one file."""

    def __init__(self, dataset: str, spec: SourceSpec, root: str, local: bool, named: str | None = None,
                 upstream: UpstreamCheck | None = None) -> None:
        self.dataset, self.spec, self.root, self.local, self.named = dataset, spec, root, local, named
        self.upstream = upstream or UpstreamCheck()  # shared with sub-sources: one list of files read

    def __repr__(self) -> str:
        return f"Source({self.where()})"

    def where(self, name: str | None = None) -> str:
        if name is None:
            return self.root
        return str(Path(self.root, name)) if self.local else f"{self.root.rstrip('/')}/{name.lstrip('/')}"

    def public(self) -> str | None:
        """The source as it may appear in a card: an http(s) URL, or None for the user's own files."""
        return None if self.local else public_url(self.root)

    def sub(self, folder: str) -> Source:
        return Source(self.dataset, self.spec, self.where(folder), self.local, upstream=self.upstream)

    def exists(self, name: str) -> bool:
        """Whether file ``name`` is there; a source that cannot be reached is an error, not a no."""
        if self.local:
            return Path(self.where(name)).is_file()
        with Fetcher(FetchConfig(retries=1, allow_private_hosts=True)) as f:
            res = f.fetch(self.where(name))
        if res.status in ("connection_error", "timeout"):
            raise SourceError(self._unreachable(name, res))
        return res.ok

    def _unreachable(self, name: str, res) -> str:
        host = urlsplit(self.where(name)).hostname
        return (f"{self.dataset}: cannot connect to {host} ({res.status}: {res.detail}). Check the network, or pass "
                f"--source with a local copy ({self.spec.hint})")

    def read_bytes(self, name: str, max_bytes: int | None = None) -> bytes:
        """File ``name`` of the source; checked against the dataset's pins and noted for the report
        (a local file by its name only: no path of this machine goes into a report)."""
        where = self.where(name)
        max_bytes = max_bytes or max_metadata_bytes()
        if self.local:
            try:
                data = read_file(str(local_file(self.root, name).target), max_bytes)
            except (RecordFailure, ValueError) as exc:
                raise SourceError(f"{self.dataset}: cannot read {where}: {exc}") from None
            self.upstream.check(self.dataset, where, name, data, own_copy=True)
            return data
        with Fetcher(FetchConfig(retries=2, max_bytes=max_bytes, allow_private_hosts=True)) as f:
            res = f.fetch(where)
        if res.status in ("connection_error", "timeout"):
            raise SourceError(self._unreachable(name, res))
        if not res.ok:
            raise SourceError(f"{self.dataset}: cannot read {where}: {res.status} {res.detail}".strip())
        self.upstream.check(self.dataset, where, public_url(where) or name, res.data)  # type: ignore[arg-type]
        return res.data  # type: ignore[return-value]

    def read_text(self, name: str, max_bytes: int | None = None) -> str:
        return decode_text(self.read_bytes(name, max_bytes), self.where(name))

    def open_file(self, name: str, max_bytes: int | None = None) -> MetadataFile:
        """File ``name`` to read line by line (``MetadataFile``), checked like ``read_bytes``: for files
        of millions of lines, which would cost several times their size in memory as one text. A file
        from a URL is kept in a temporary file while it is read."""
        where = self.where(name)
        max_bytes = max_bytes or max_metadata_bytes()
        if self.local:
            try:
                path, temporary = str(local_file(self.root, name).target), False
            except ValueError as exc:
                raise SourceError(f"{self.dataset}: cannot read {where}: {exc}") from None
        else:
            data = self.read_bytes(name, max_bytes)  # checked against the pins here
            folder = cache_root() / "spool"  # beside the record spools: a dead process's copy is removed there
            folder.mkdir(parents=True, exist_ok=True)
            fd, path = tempfile.mkstemp(prefix=f"metadata-{os.getpid()}-", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            del data
            temporary = True
        try:
            opened = MetadataFile(path, where, max_bytes, temporary=temporary)
        except OSError as exc:
            raise SourceError(f"{self.dataset}: cannot read {where}: {exc}") from None
        if self.local:
            try:
                self.upstream.check_digest(self.dataset, where, name, opened.size, opened.sha256, own_copy=True)
            except BaseException:
                opened.close()
                raise
        return opened

    def download(self, name: str, max_bytes: int = 16 * 2**30) -> Path:
        """A local path to file ``name``: itself when local, else downloaded once into the fetch cache."""
        if self.local:
            loc = local_file(self.root, name)
            return Path(loc.target)
        where = self.where(name)
        cfg = FetchConfig(retries=2, max_bytes=max_bytes, cache_dir=fetch_cache_dir(), allow_private_hosts=True)
        with Fetcher(cfg) as f:
            res = f.fetch(where)
            if not res.ok:
                raise SourceError(f"{self.dataset}: cannot download {where}: {res.status} {res.detail}".strip())
            return f.cache.path(where)  # type: ignore[union-attr]

    def file(self, relative: str) -> Location:
        """A file of the user's folder named by metadata (ValueError when it would leave the folder)."""
        if not self.local:
            raise ValueError(f"{self.dataset}: {relative!r} is a local path but the source is a URL")
        return local_file(self.root, relative)


def canonical_source(spec: SourceSpec, source: str | os.PathLike | None) -> str | None:
    """One spelling per place: None for the dataset's default upstream, a URL without its trailing
    slash, an absolute resolved path for local files (``./x`` and ``/abs/x`` are one source)."""
    if source is None or str(source).strip() == "":
        return None
    src = str(source).strip()
    if public_url(src) or "://" in src or "::" in src or src.startswith("file:"):
        src = src.rstrip("/") if public_url(src) else src
        return None if spec.default and src == spec.default.rstrip("/") else src
    return str(Path(src).expanduser().resolve())


def locate(dataset: str, spec: SourceSpec, source: str | os.PathLike | None) -> Source:
    """The source the user gave (or the dataset's default upstream), checked and classified."""
    src = str(source) if source else (None if spec.manual else spec.default)
    if not src:
        what = "is a manual download: pass" if spec.manual else "needs"
        raise SourceError(f"{dataset} {what} --source (source=): {spec.hint}")
    suffixes = {PurePosixPath(f).suffix for f in spec.files} | set(spec.formats)
    if public_url(src):
        if spec.manual:
            raise SourceError(f"{dataset} is a manual download: --source must be a local folder ({spec.hint})")
        path = urlsplit(src).path
        if PurePosixPath(path).suffix and PurePosixPath(path).suffix in suffixes:
            base, _, name = src.split("?")[0].rpartition("/")
            return Source(dataset, spec, base, local=False, named=name)
        return Source(dataset, spec, src.rstrip("/"), local=False)
    if "://" in src or "::" in src or src.startswith("file:"):
        raise SourceError(f"{dataset}: --source must be a local folder or file, or an http(s) URL; got {src!r}")
    p = Path(src).expanduser()
    if p.is_file():
        return Source(dataset, spec, str(p.resolve().parent), local=True, named=p.name)
    if p.is_dir():
        return Source(dataset, spec, str(p.resolve()), local=True)
    raise SourceError(f"{dataset}: --source {src} does not exist. {spec.hint}")
