"""A metadata file read line by line from disk, never as one text.

A million-line metadata file held as a string, then as a list of lines, costs several times its
size in memory; read here it costs a buffer. Lines are numbered as upstream's readers number them
(split at LF only, a CR before it dropped, as ``sources.split_lines``), a line can be read again by
its byte offset (so a join keeps offsets, not texts), and every error names the file and the line.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import MetadataError
from .failures import RecordFailure
from .locations import open_regular

_BOM = b"\xef\xbb\xbf"


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (BOM allowed); an error names the file, the line and the byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MetadataError(f"{name} line {line}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


class MetadataFile:
    """An open metadata file: its size, sha256 and line count (one pass when opened, for the pins),
    then its lines. ``temporary``: a downloaded copy, removed when closed."""

    def __init__(self, path: str | os.PathLike, where: str, max_bytes: int, temporary: bool = False) -> None:
        self.where, self._path, self._temporary = where, Path(path), temporary
        try:
            self._f, _ = open_regular(str(path), max_bytes)
        except RecordFailure as exc:
            if temporary:
                self._path.unlink(missing_ok=True)
            raise OSError(f"{exc.reason}: {exc.detail}") from None
        sha, size, newlines, last = hashlib.sha256(), 0, 0, b""
        for chunk in iter(lambda: self._f.read(1 << 20), b""):
            sha.update(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
        if size > max_bytes:  # grew since it was opened
            self.close()
            raise OSError(f"too_large: over {max_bytes} bytes")
        self.size, self.sha256 = size, sha.hexdigest()
        self.line_count = newlines + (1 if size and last != b"\n" else 0)

    def __enter__(self) -> MetadataFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()
        if self._temporary:
            self._path.unlink(missing_ok=True)

    def _decode(self, raw: bytes, number: int, offset: int) -> str:
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if offset == 0 and raw.startswith(_BOM):
            raw, offset = raw[3:], 3
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MetadataError(f"{self.where} line {number}: not UTF-8 ({exc.reason} at byte {offset + exc.start})") from None

    def stream(self) -> BinaryIO:
        """The file's bytes from the start, for a streaming parser."""
        self._f.seek(0)
        return self._f

    def text(self) -> str:
        """The whole file as one text (``sources.decode_text``): for small files and error paths."""
        return decode_text(self.stream().read(), self.where)

    def lines(self) -> Iterator[tuple[int, int, str]]:
        """(line number from 1, byte offset of the line, its text without the line end)."""
        self._f.seek(0)
        offset = 0
        for number, raw in enumerate(self._f, start=1):  # a binary file splits at LF only
            yield number, offset, self._decode(raw, number, offset)
            offset += len(raw)

    def line_at(self, offset: int) -> str:
        """The line starting at byte ``offset`` (from ``lines``, which already decoded it once), read
        again (pread: the position that ``lines`` iterates from is not moved)."""
        fd, parts, pos = self._f.fileno(), [], offset
        while True:
            chunk = os.pread(fd, 1 << 16, pos)
            end = chunk.find(b"\n")
            if end >= 0 or not chunk:
                parts.append(chunk if end < 0 else chunk[:end + 1])
                break
            parts.append(chunk)
            pos += len(chunk)
        return self._decode(b"".join(parts), 0, offset)
