"""A record whose processing kills the process (a native crash) is tried a bounded number of times,
then ends as a worker_crash failure: the build completes instead of dying on it forever."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from artface.build import Build
from artface.builders import load_builder
from artface.builders.kaokore.test_builder import serve_kaokore
from artface.pipeline import MAX_CRASHES

CRASHING_BUILD = textwrap.dedent("""
    import os, sys
    from artface.pipeline import Pipeline
    real = Pipeline._align
    def align(self, w):
        if w.rec.id == "00000002":
            os._exit(139)  # what a segfault in a native library does to the process
        return real(self, w)
    Pipeline._align = align
    from artface.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_record_that_kills_the_process_ends_as_worker_crash(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={})
    args = ["build", "kaokore", "--config", "aligned", "--source", src, "--set", "size=64", "--max-records", "3",
            "--set", "workers=1"]
    codes = [subprocess.run([sys.executable, "-c", CRASHING_BUILD, *args], capture_output=True, text=True, timeout=300)
             for _ in range(MAX_CRASHES + 1)]
    assert [c.returncode for c in codes[:MAX_CRASHES]] == [139] * MAX_CRASHES, "the crash kills the build"
    assert codes[-1].returncode == 0, codes[-1].stderr[-2000:]
    build = Build.find(load_builder("kaokore", "aligned", source=src, size=64, max_records=3))
    assert build.report["failed_by_reason"] == {"worker_crash": 1}
    assert [f["id"] for f in build.report["failures"]] == ["00000002"]
    assert "00000002" not in [i for s in build.splits for i in build.dataset(s)["id"]]
