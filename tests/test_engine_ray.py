"""Builds on Ray Data (a local Ray cluster started by the test, 2 CPUs): the same rows and report as a
local build, publishing from the engine's output, a worker killed by its pid mid-run, and a driver
killed mid-run then re-run -> no lost or duplicated rows."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import datasets
import pytest

from artface.build import Build, run_build
from artface.builders import load_builder
from artface.builders.kaokore.test_builder import serve_kaokore
from artface.testing.progress import wait_for_outcomes

ray = pytest.importorskip("ray", reason="the ray extra is part of '.[test]'")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def local_rows(src: str, tmp_path: Path) -> dict:
    b = load_builder("kaokore", "aligned", source=src, size=64, cache_dir=str(tmp_path / "local-hf"))
    build = b.build(tmp_path / "local-out").build
    return {s: list(d.cast_column("image", datasets.Image(decode=False))) for s, d in build.datasets().items()}


def test_ray_build_gives_the_local_rows_and_publishes(cluster, http_server, tmp_path):
    from artface.publish import publish

    src = serve_kaokore(http_server, bad={"00000003": "404", "00000011": "corrupt"})
    expect = local_rows(src, tmp_path)
    os.environ["ARTFACE_CACHE"] = str(tmp_path / "ray-cache")  # no shared work store with the local build
    b = load_builder("kaokore", "aligned", source=src, size=64, cache_dir=str(tmp_path / "hf"))
    build = run_build(b, engine="ray").build
    rep = build.report
    assert rep["written"] == 36 and rep["failed_by_reason"] == {"http_404": 1, "corrupt_image": 1} and rep["pending"] == 0
    assert rep["engine"]["name"] == "ray" and set(rep["provenance"]["points"]) <= {"blazeface_short+face_mesh",
                                                                                   "retinaface_mnet025+face_mesh"}
    got = Build.open(b.default_output_dir()).datasets()
    assert got["train"].features == b.info.features
    plain = datasets.load_dataset(str(build.folder))  # one layout for every engine: plain datasets reads it
    assert {s: len(d) for s, d in plain.items()} == {s: len(d) for s, d in got.items()}
    for split, rows in expect.items():
        mine = list(got[split].cast_column("image", datasets.Image(decode=False)))
        assert [r["id"] for r in mine] == [r["id"] for r in rows], split
        assert all(a["image"]["bytes"] == b_["image"]["bytes"] for a, b_ in zip(mine, rows)), "same image bytes"
    dest = tmp_path / "pub"
    res = publish("kaokore", "aligned", "pixels", private=True, to=str(dest), source=src, size=64,
                  cache_dir=str(tmp_path / "hf"))
    assert res.rows == {s: len(r) for s, r in expect.items()}
    published = datasets.load_dataset(str(dest), "aligned", split="train")
    assert [r["id"] for r in published] == [r["id"] for r in expect["train"]]


def actor_pids(name: str) -> list[int]:
    """Pids of Ray actor processes whose title names ``name`` (Ray titles them ``ray::<actor class>...``)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith("ray::") and name in cmd:
                pids.append(int(d.name))
    return pids


def test_a_worker_killed_mid_run_loses_nothing(cluster, http_server, tmp_path):
    src = serve_kaokore(http_server, bad={}, delay=0.25)
    b = load_builder("kaokore", "aligned", source=src, size=64, cache_dir=str(tmp_path / "hf"))
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(rep=run_build(b, engine="ray").build.report))
    t.start()
    wait_for_outcomes(Path(os.environ["ARTFACE_CACHE"]) / "work" / "kaokore", 4, 120)
    workers = actor_pids("RecordMapper")
    assert workers, "the actor pool is running"
    os.kill(workers[0], signal.SIGKILL)
    t.join(timeout=300)
    rep = result["rep"]
    assert rep["written"] == 38 and rep["failed"] == 0 and rep["pending"] == 0
    ids = [r["id"] for d in Build.find(b).datasets().values() for r in d]
    assert len(ids) == len(set(ids)) == 38


def test_a_killed_driver_then_a_rerun_gives_the_full_set(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={}, delay=0.25)
    env = dict(os.environ, RAY_ADDRESS="", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "aligned", "--source", src,
           "--set", "size=64", "--engine", "ray", "--actors", "2"]
    # its own process group: killing the group takes the driver and the local cluster it started, nothing else
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        work = Path(os.environ["ARTFACE_CACHE"]) / "work" / "kaokore"
        done_before = wait_for_outcomes(work, 6, 180, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert 6 <= done_before < 38, "killed mid-run"
        out = load_builder("kaokore", "aligned", source=src, size=64).default_output_dir()
        assert not (out / "artface_report.json").exists(), "nothing promoted from the killed run"
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        assert "38 written, 0 failed, of 38 records" in again.stdout
        rows = Build.find(load_builder("kaokore", "aligned", source=src, size=64)).datasets()
        ids = [r["id"] for d in rows.values() for r in d]
        assert len(ids) == len(set(ids)) == 38
        assert not list(out.parent.glob(f".{out.name}.building-*")), "the killed run's staging was cleaned"
        assert json.loads((out / "artface_report.json").read_text())["engine"]["name"] == "ray"
        refetched = sum(1 for _, p in http_server.log if p.endswith("default.jpg")) - 38
        assert refetched <= 38 - done_before + 8, "finished records came from the work store"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_without_ray_the_command_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from artface.cli import main\n"
            f"sys.exit(main(['build', 'kaokore', '--source', {str(tmp_path)!r}, '--engine', 'ray']))")
    (tmp_path / "urls.txt").write_text("")
    (tmp_path / "labels.csv").write_text("image,gender,status,set\n")
    (tmp_path / "original_tags.txt").write_text("")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "pip install 'artface[ray]'" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_cluster_problems_are_one_line_before_any_record(cluster, http_server, tmp_path):
    from artface.engine import ClusterError

    src = serve_kaokore(http_server, bad={})
    res = subprocess.run([sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "aligned", "--source", src,
                          "--engine", "ray", "--address", "ray://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and "cannot be reached" in res.stderr
    b = load_builder("kaokore", "aligned", source=src, size=64, max_records=2)
    with pytest.raises(ClusterError, match="--gpus-per-actor 1 but the Ray cluster has 0 GPU"):
        run_build(b, engine="ray", gpus_per_actor=1.0)
    assert not [p for _, p in http_server.log if p.endswith(".jpg")], "no record was attempted"


def test_the_union_builds_its_members_on_ray(cluster, http_server, tmp_path):
    src = serve_kaokore(http_server, bad={"00000003": "404"})
    b = load_builder("all", "aligned", members=["kaokore"], sources=[f"kaokore={src}"], size=64, max_records=3)
    build = run_build(b, engine="ray").build
    assert build.report["members"]["kaokore"]["written"] == build.num_rows() > 0
    member = Build.find(load_builder("kaokore", "aligned", source=src, size=64, max_records=3))
    assert member.report["engine"]["name"] == "ray"


def test_a_record_that_kills_its_ray_worker_is_a_failure_and_the_run_completes(http_server, tmp_path):
    """A native crash on one record (simulated by os._exit in the worker) is retried a bounded number of
    times, then that record is worker_crash; the rest of the run completes and is promoted."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('CRASH_ON_RECORD'):\n"
        "    from artface.pipeline import Pipeline\n"
        "    real = Pipeline._align\n"
        "    def _align(self, w):\n"
        "        if w.rec.id == os.environ['CRASH_ON_RECORD']:\n"
        "            os._exit(139)\n"
        "        return real(self, w)\n"
        "    Pipeline._align = _align\n")
    src = serve_kaokore(http_server, bad={})
    env = dict(os.environ, RAY_ADDRESS="", PYTHONPATH=f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               CRASH_ON_RECORD="00000002")
    cmd = [sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "aligned", "--source", src,
           "--set", "size=64", "--max-records", "4", "--engine", "ray", "--actors", "1"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, start_new_session=True)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    build = Build.find(load_builder("kaokore", "aligned", source=src, size=64, max_records=4))
    assert build.report["failed_by_reason"] == {"worker_crash": 1} and build.report["engine"]["name"] == "ray"
    assert build.num_rows() == build.report["total"] - 1
