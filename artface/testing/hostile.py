"""Hostile inputs for resource tests: real, valid files that are cheap to make and costly to open."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int, height: int, value: int = 0) -> bytes:
    """A valid grayscale PNG of ``width`` x ``height`` (e.g. 13000 x 13000 = 169 Mpx, just under
    Pillow's own bomb limit) that is a few hundred KB on the wire: its rows are compressed as they
    are made, so making it costs little memory."""
    row = b"\x00" + bytes([value]) * width
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def zip_bomb(members: dict[str, int]) -> bytes:
    """A zip whose members (name -> inflated size) are zeros: a few MB that inflate to GBs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, size in members.items():
            with zf.open(name, "w", force_zip64=True) as f:
                block = b"\x00" * (1 << 20)
                for _ in range(size >> 20):
                    f.write(block)
    return buf.getvalue()
