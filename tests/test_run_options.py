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
