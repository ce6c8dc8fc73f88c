"""Metadata files read line by line (artface.metadata_file, Source.open_file): lines numbered as
upstream's readers number them, read again by offset, errors naming file and line, a downloaded
copy removed when closed, a FIFO refused without hanging."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from artface.metadata_file import MetadataFile
from artface.sources import MetadataError, SourceError, SourceSpec, locate


def test_lines_split_at_lf_only_and_read_again_by_offset(tmp_path):
    data = "\ufeffa,b\r\nsecond\u2028still second\n\nlast without line end".encode()
    (tmp_path / "m.txt").write_bytes(data)
    with MetadataFile(tmp_path / "m.txt", "m.txt", max_bytes=1000) as f:
        lines = list(f.lines())
        assert [(n, text) for n, _, text in lines] == [
            (1, "a,b"), (2, "second\u2028still second"), (3, ""), (4, "last without line end")]
        assert f.line_count == 4 and f.size == len(data) and f.sha256 == hashlib.sha256(data).hexdigest()
        assert [f.line_at(offset) for _, offset, _ in reversed(lines)] == [text for _, _, text in reversed(lines)]


def test_not_utf8_names_the_line_and_byte(tmp_path):
    (tmp_path / "m.txt").write_bytes(b"ok\nok\nbad \xff here\n")
    with MetadataFile(tmp_path / "m.txt", "where/m.txt", max_bytes=1000) as f:
        with pytest.raises(MetadataError, match=r"where/m.txt line 3: not UTF-8 \(invalid start byte at byte 10\)"):
            list(f.lines())


def test_size_limit_and_fifo_are_refused(tmp_path):
    (tmp_path / "big.txt").write_bytes(b"x" * 2000)
    with pytest.raises(OSError, match="too_large: 2000 bytes > 1000"):
        MetadataFile(tmp_path / "big.txt", "big.txt", max_bytes=1000)
    os.mkfifo(tmp_path / "urls.txt")  # a FIFO named like metadata would block a plain open() forever
    src = locate("x", SourceSpec(files=("urls.txt",)), str(tmp_path))
    with pytest.raises(SourceError, match=r"cannot read .*urls.txt: not_a_file"):
        src.open_file("urls.txt")


def test_a_downloaded_file_is_checked_and_removed_when_closed(tmp_path, http_server):
    body = "一\n二\n三\n".encode()
    url = http_server.add("/meta/urls.txt", body)
    src = locate("x", SourceSpec(files=("urls.txt",)), url.rsplit("/", 1)[0])
    with src.open_file("urls.txt") as f:
        assert [text for _, _, text in f.lines()] == ["一", "二", "三"]
        copies = list((Path(os.environ["ARTFACE_CACHE"]) / "spool").glob(f"metadata-{os.getpid()}-*.tmp"))
        assert len(copies) == 1
    assert not copies[0].exists()
    assert src.upstream.files == [{"file": url, "size": len(body), "sha256": hashlib.sha256(body).hexdigest(), "pin": None}]
