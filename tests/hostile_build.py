"""Run by test_resource_bounds in its own process: hostile builds, then the process's peak RSS."""
from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path

from artface.builders import load_builder
from artface.testing.hostile import png_bomb, zip_bomb
from artface.testing.http_server import FixtureServer
from artface.testing.images import astronaut_face_crop



def peak_rss() -> int:
    """This program's own peak RSS in bytes. Linux's VmHWM starts again at exec; ``ru_maxrss`` does not:
    it keeps the peak of the forked parent (pytest, grown by the tests before this one)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    server = FixtureServer().start()
    bomb, big = png_bomb(13000, 13000), png_bomb(6500, 6500, value=128)  # 169 Mpx; 42 Mpx (under max_pixels)
    urls = [server.add(f"/i/{n}.png", body) for n, body in
            [("bomb1", bomb), ("bomb2", bomb), ("big1", big), ("big2", big), ("face", astronaut_face_crop(1))]]
    src = tmp / "k"
    src.mkdir()
    (src / "urls.txt").write_text("\n".join(urls) + "\n")
    (src / "labels.csv").write_text("image,gender,status,set\n" + "".join(f"{i:08d}.jpg,0,0,train\n" for i in range(len(urls))))
    (src / "original_tags.txt").write_text("")
    b = load_builder("kaokore", "aligned", source=str(src), size=64, workers=2, cache_dir=str(tmp / "hf"))
    b.download_and_prepare()
    images = b.report()
    (tmp / "image_face.zip").write_bytes(zip_bomb({"image_face/realism/a.png": 1 << 30, "image_face/realism/b.png": 1 << 30}))
    w = load_builder("wikiart_face", "released", source=str(tmp / "image_face.zip"), workers=2, cache_dir=str(tmp / "hf2"))
    w.download_and_prepare()
    zips = w.report()
    server.stop()
    peak = peak_rss()
    print("RESULT" + json.dumps({"images": images["failed_by_reason"], "images_written": images["written"],
                                 "zip": zips["failed_by_reason"], "zip_bytes": (tmp / "image_face.zip").stat().st_size,
                                 "bomb_bytes": len(bomb), "peak_rss": peak}))


if __name__ == "__main__":
    sys.exit(main())
