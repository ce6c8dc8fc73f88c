"""Bounded resources over hostile input (a real build in its own process, real files and server):
images are size-checked from their header before decoding and big ones processed one at a time,
zip members are refused by their declared and actual sizes; the process's peak RSS stays under 1 GiB."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from artface.testing.hostile import png_bomb, zip_bomb


@pytest.mark.slow
def test_hostile_images_and_zip_bombs_stay_under_one_gib(tmp_path):
    script = Path(__file__).with_name("hostile_build.py")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.split("RESULT", 1)[1])
    assert out["images"] == {"image_too_large": 2, "no_face": 2} and out["images_written"] == 1
    assert out["zip"] == {"too_large": 2}
    assert out["bomb_bytes"] < 1_000_000 and out["zip_bytes"] < 10_000_000  # small on the wire
    assert out["peak_rss"] < 2**30, f"peak RSS {out['peak_rss'] / 2**20:.0f} MiB"


def test_hostile_files_are_what_they_claim():
    from PIL import Image
    import io
    import zipfile

    with Image.open(io.BytesIO(png_bomb(3000, 2000, value=7))) as im:
        assert im.size == (3000, 2000) and im.getpixel((10, 10)) == 7
    with zipfile.ZipFile(io.BytesIO(zip_bomb({"a.png": 3 << 20}))) as zf:
        assert zf.getinfo("a.png").file_size == 3 << 20 and zf.read("a.png") == b"\x00" * (3 << 20)
