"""How a build shares the machine: ONNX threads per session never multiply past the cores when
--num-proc processes each run their workers."""
from __future__ import annotations

import os

from artface.pipeline import RunOptions


def test_sessions_share_the_cores_among_every_worker_of_every_process(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert RunOptions(workers=2).native_threads() == 8
    assert RunOptions(workers=2, processes=4).native_threads() == 2, "4 x 2 workers x 2 threads = 16 cores, not 64"
    assert RunOptions(workers=8, processes=4).native_threads() == 1
    assert RunOptions(workers=2, processes=4, threads=3).native_threads() == 3, "an explicit setting is kept"


def test_opencv_pool_is_sized_like_the_sessions_while_records_are_worked_on(monkeypatch, tmp_path):
    """A pipeline's workers see OpenCV's pool at native_threads(); after the run it is as it was."""
    import io

    import cv2
    from PIL import Image

    from artface.fetch import FetchConfig, Fetcher
    from artface.locations import local_file
    from artface.pipeline import PixelOptions, Pipeline, Stage
    from artface.records import Record

    seen: list[int] = []
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "gray").save(buf, "PNG")
    (tmp_path / "a.png").write_bytes(buf.getvalue())
    records = [Record(f"r{i}", "train", local_file(tmp_path, "a.png")) for i in range(4)]
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    before = cv2.getNumThreads()
    pipe = Pipeline(PixelOptions("original"), Fetcher(FetchConfig()), None,
                    [Stage("probe", lambda w: seen.append(cv2.getNumThreads()))], RunOptions(workers=2))
    written = list(pipe.rows(records))
    assert len(written) == 4 and seen == [4, 4, 4, 4], "8 cores / 2 workers"
    assert cv2.getNumThreads() == before
