"""Where a record's bytes come from (private) versus what is public about it.

A ``Location`` says where the pipeline reads a record's bytes: a URL, a file inside the user's
own ``--source`` folder, a member of a zip, or bytes carried inline. It is private: it never
becomes a column. The public ``image_url``/``source_url`` columns go through ``public_url``,
which keeps http(s) URLs only, so no local path, ``file:``, zip member or ``hf://`` string can
reach a published shard.

Local files are reachable only through ``local_file(root, relative)``: resolved inside ``root``
(no ``..``, no absolute paths, no symlinks out) and read only when they are regular files, so
metadata can never make artface read the user's other files, FIFOs or devices.
"""
from __future__ import annotations

import functools
import hashlib
import os
import stat
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from .failures import RecordFailure
from .paths import safe_join

#: largest image body artface reads for one record (fetched, local or zip member)
MAX_IMAGE_BYTES = 64 * 2**20


def public_url(value: object) -> str | None:
    """``value`` if it is a public http(s) URL (no credentials), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        u = urlsplit(value)
    except ValueError:
        return None
    if u.scheme.lower() not in ("http", "https") or not u.hostname or u.username or u.password:
        return None
    return value


@dataclass(frozen=True)
class Location:
    """Private: where the pipeline reads one record's bytes."""

    via: str  # how the bytes are reached: url | file | zip | inline
    target: str  # the URL, the absolute file path, the zip's path, or a name for inline bytes
    member: str | None = None  # zip member
    data: bytes | None = field(default=None, repr=False, compare=False)  # inline bytes

    def identity(self) -> str:
        """What the bytes are, for cache keys: a local file's size and mtime are part of it, so a
        replaced file is read and checked again."""
        if self.via == "url":
            return f"url:{self.target}"
        if self.via == "inline":
            return f"inline:{hashlib.sha256(self.data or b'').hexdigest()}"
        try:
            st = os.stat(self.target)
            ident = f"{self.via}:{self.target}:{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            ident = f"{self.via}:{self.target}:missing"
        return f"{ident}#{self.member}" if self.via == "zip" else ident

    @property
    def is_local(self) -> bool:
        return self.via in ("file", "zip")


def url(value: str) -> Location:
    """A location from metadata: fetched only if it is a public http(s) URL (checked at fetch)."""
    return Location("url", str(value))


def inline(data: bytes, name: str) -> Location:
    return Location("inline", name, data=data)


def local_file(root: str | os.PathLike, relative: str) -> Location:
    """A file of the user's source folder named by metadata; ValueError if it would leave ``root``."""
    rel = str(relative)
    if not rel or rel.startswith("\\") or "\x00" in rel:
        raise ValueError(f"path {relative!r} from the metadata is not relative to the source folder")
    return Location("file", str(safe_join(root, rel)))  # resolved: a symlink out of the folder is refused


def zip_member(zip_path: str | os.PathLike, member: str) -> Location:
    return Location("zip", str(Path(zip_path).resolve()), member)


def open_regular(path: str, max_bytes: int) -> tuple[BinaryIO, int]:
    """An open regular file and its size, never following a FIFO or device (they would hang or never
    end) nor a final symlink; a file over ``max_bytes`` is refused before any of it is read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise RecordFailure("not_found", "no such file") from None
    except OSError as exc:
        raise RecordFailure("not_a_file" if os.path.lexists(path) else "not_found", exc.strerror or str(exc)) from None
    f = os.fdopen(fd, "rb")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        f.close()
        raise RecordFailure("not_a_file", "not a regular file")
    if st.st_size > max_bytes:
        f.close()
        raise RecordFailure("too_large", f"{st.st_size} bytes > {max_bytes}")
    return f, st.st_size


def read_file(path: str, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """A regular file's bytes (see ``open_regular``)."""
    f, _ = open_regular(path, max_bytes)
    with f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RecordFailure("too_large", f"over {max_bytes} bytes")
    return data


_zip_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _open_zip(path: str, ident: str) -> zipfile.ZipFile:  # ident: re-open when the file changes
    return zipfile.ZipFile(path)


def read_zip_member(path: str, member: str, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """One member, refused before inflating when its declared size is over the limit, and cut off
    when its actual size is (a zip bomb cannot take more than ``max_bytes`` of memory)."""
    try:
        with _zip_lock:
            zf = _open_zip(path, Location("zip", path).identity())
        info = zf.getinfo(member)
        if info.file_size > max_bytes:
            raise RecordFailure("too_large", f"zip member {member} declares {info.file_size} bytes > {max_bytes}")
        with zf.open(info) as f:
            data = f.read(max_bytes + 1)
    except RecordFailure:
        raise
    except KeyError:
        raise RecordFailure("not_found", f"no member {member!r} in the zip") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, ValueError) as exc:
        raise RecordFailure("corrupt_image", f"zip member {member}: {type(exc).__name__}: {exc}") from None
    if len(data) > max_bytes:
        raise RecordFailure("too_large", f"zip member {member} inflates past {max_bytes} bytes")
    return data


def read_local(loc: Location, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of a file, zip member or inline location (URLs go through the Fetcher)."""
    if loc.via == "inline":
        return loc.data or b""
    if loc.via == "file":
        return read_file(loc.target, max_bytes)
    if loc.via == "zip":
        return read_zip_member(loc.target, loc.member or "", max_bytes)
    raise ValueError(f"read_local does not read {loc.via!r} locations")
