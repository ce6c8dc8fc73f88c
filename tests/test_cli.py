"""The command line as a user drives it: subprocesses, real local servers, help texts, exit codes,
one-line errors, progress and summary, exports read by other tools, the cache command."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from artface.builders.kaokore.test_builder import serve_kaokore
from artface.testing.progress import wait_for_outcomes

KAOKORE = Path(__file__).resolve().parents[1] / "artface" / "builders" / "kaokore" / "fixtures"


def cli(*args: str, timeout: int = 300, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "artface.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ), cwd=cwd)


def test_help_version_list_info():
    top = cli("--help")
    assert top.returncode == 0 and "examples:" in top.stdout and "exit codes:" in top.stdout
    build = cli("build", "--help")
    assert "(default: None)" in build.stdout and "--num-proc" in build.stdout and "artface info NAME" in build.stdout
    assert cli("--version").stdout.startswith("artface ")
    listed = cli("list").stdout
    assert all(n in listed for n in ("kaokore", "metfaces", "aahq", "wikiart_face", "mm_celeba_hq")) and "cc-by-sa-4.0" in listed
    info = cli("info", "WikiArt-Face")  # case-insensitive, - or _
    assert info.returncode == 0 and "released" in info.stdout and "blur" in info.stdout and "default False" in info.stdout


@pytest.mark.parametrize("args,code,expect", [
    (["build", "nope"], 2, "error: unknown dataset 'nope'; available: aahq, all, kaokore"),
    (["build", "kaokore", "--config", "bogus"], 2, "error: kaokore has no config 'bogus'; its configs: urls, original, detected, aligned"),
    (["build", "kaokore", "--set", "colour=red"], 2, "error: kaokore has no option 'colour'"),
    (["build", "kaokore", "--set", "size=abc"], 1, "error: option size='abc' is not a valid int"),
    (["build", "metfaces"], 1, "error: metfaces needs --source"),
    (["build", "mm_celeba_hq"], 1, "error: mm_celeba_hq is a manual download"),
    (["build", "kaokore", "--source", "http://127.0.0.1:9/kaokore"], 1, "error: kaokore: cannot connect to 127.0.0.1"),
])
def test_errors_are_one_line_with_documented_exit_codes(args, code, expect):
    res = cli(*args)
    assert res.returncode == code, res.stderr
    assert res.stderr.strip().startswith(expect), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    debug = cli("--debug", *args)
    assert "Traceback" in debug.stderr


def test_unwritable_output_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # an output path under a file fails for every user, root included
    res = cli("build", "kaokore", "--source", str(KAOKORE), "--out", str(blocker / "out"))
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.stderr and str(blocker) in res.stderr


def test_build_progress_summary_and_advice(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={"00000003": "404", "00000005": "flaky"})
    res = cli("build", "kaokore", "--config", "aligned", "--source", src, "--set", "size=64", "--set", "fetch_retries=0",
              "--num-proc", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    out, err = res.stdout, res.stderr
    assert "kaokore/aligned: 38 records (train 32, validation 2, test 4); about" in out and "KB of 64 px jpeg" in out
    assert "/16 [" in err or "/16" in err, "a bar per shard with its total"
    assert "written" in err and "failed" in err
    assert "36 written, 2 failed, of 38 records in" in out and "img/s" in out
    assert "1 may succeed later (http_500): run the same command again" in out
    assert "1 are permanent (http_404): they are listed in the report" in out
    assert out.count("failures by reason") == 1 and "back to 1" not in err, "num_proc=2 really used two processes"


def test_image_format_and_quality(http_server, tmp_path):
    from PIL import Image
    import io
    import datasets

    src = serve_kaokore(http_server, bad={})
    for fmt, magic in (("png", "PNG"), ("webp", "WEBP"), ("jpeg", "JPEG")):
        from artface.builders import load_builder

        b = load_builder("kaokore", "aligned", source=src, size=64, max_records=2, image_format=fmt, image_quality=80,
                         cache_dir=str(tmp_path / fmt))
        b.download_and_prepare()
        row = b.as_dataset(split="train").cast_column("image", datasets.Image(decode=False))[0]
        assert Image.open(io.BytesIO(row["image"]["bytes"])).format == magic


def test_export_webdataset_read_by_webdataset_and_datasets(http_server, tmp_path):
    import datasets
    import webdataset as wds

    src = serve_kaokore(http_server, bad={"00000003": "404"})
    common = ["--config", "aligned", "--source", src, "--set", "size=64", "--max-records", "6"]
    missing = cli("export", "kaokore", *common, "--out", str(tmp_path / "none"))
    assert missing.returncode == 1 and "run `artface build kaokore --config aligned --source" in missing.stderr
    assert cli("build", "kaokore", *common).returncode == 0
    out = tmp_path / "wds"
    res = cli("export", "kaokore", *common, "--format", "webdataset", "--out", str(out), "--samples-per-shard", "4")
    assert res.returncode == 0, res.stderr[-2000:]
    stats = json.loads((out / "__stats__" / "stats.json").read_text())
    assert stats["splits"]["train"] == {"samples": 5, "records": 6, "success_rate": 0.8333, "failed_by_reason": {"http_404": 1}}
    shard_stats = json.loads((out / "__stats__" / "train-00000_stats.json").read_text())
    assert shard_stats["samples"] == 4 and shard_stats["img_per_s"] and shard_stats["bytes"] > 0
    samples = list(wds.WebDataset(str(out / "train-{00000..00001}.tar"), shardshuffle=False).decode("pil"))
    assert len(samples) == 5 and samples[0]["jpg"].size == (64, 64)
    assert samples[0]["json"]["gender_name"] in ("male", "female") and samples[0]["txt"].startswith("a")
    ds = datasets.load_dataset("webdataset", data_files={"train": [str(p) for p in sorted(out.glob("train-*.tar"))]}, split="train")
    assert len(ds) == 5 and ds[0]["jpg"].size == (64, 64) and "id" in ds[0]["json"]
    typed = datasets.load_dataset("webdataset", data_dir=str(out), split="train")  # stats never among the data files
    assert len(typed) == 5
    whole = datasets.load_dataset(str(out), split="train")  # the README's types: the build's, not inferred
    assert whole.features["json"]["gender"].names == ["male", "female"] and len(whole) == 5
    again = cli("export", "kaokore", *common, "--format", "webdataset", "--out", str(out), "--samples-per-shard", "10")
    assert again.returncode == 0 and sorted(p.name for p in out.glob("*.tar")) == ["test-00000.tar", "train-00000.tar",
                                                                                  "validation-00000.tar"], "replaced whole"
    folder = tmp_path / "folder"
    assert cli("export", "kaokore", *common, "--format", "imagefolder", "--out", str(folder)).returncode == 0
    imgs = datasets.load_dataset("imagefolder", data_dir=str(folder / "train"), split="train")
    assert len(imgs) == 5 and imgs[0]["image"].size == (64, 64) and imgs.features["gender"] is not None
    typed = datasets.load_dataset(str(folder), split="train")
    assert len(typed) == 5 and typed.features["gender"].names == ["male", "female"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's own file")
    refused = cli("export", "kaokore", *common, "--out", str(tmp_path / "mine"))
    assert refused.returncode == 1 and "not an artface export" in refused.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "the user's own file"


def test_cache_show_and_clean(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={})
    assert cli("build", "kaokore", "--config", "aligned", "--source", src, "--set", "size=64", "--max-records", "2").returncode == 0
    shown = cli("cache").stdout
    assert "fetch cache" in shown and "work store kaokore" in shown and "build kaokore/aligned (" in shown and "total" in shown
    assert "in progress" not in shown, "the finished build holds its images, the work store none"
    assert "of its downloads, no longer needed" in shown and "--downloads` removes" in shown
    rows = int(re.search(r"build kaokore/aligned \((\d+) rows", shown)[1])
    dropped = cli("cache", "clean", "kaokore", "--downloads")  # only the downloads: builds and work stores stay
    assert dropped.returncode == 0 and f"removed {rows} downloads" in dropped.stdout, dropped.stdout
    shown = cli("cache").stdout
    assert "no longer needed" not in shown and f"build kaokore/aligned ({rows} rows)" in shown and "work store kaokore" in shown
    assert "--downloads` removes" not in shown and re.search(r"fetch cache \(downloads\) +0 B +0 files", shown), shown
    assert cli("cache", "clean").returncode != 0, "cleaning needs names or --all"
    asked = cli("cache", "clean", "--builds", "KaoKore")  # names and flags in any order; builds need a yes
    assert asked.returncode == 1 and "pass --yes" in asked.stdout and "build kaokore/aligned (" in cli("cache").stdout
    cleaned = cli("cache", "clean", "KaoKore", "--builds", "--yes")
    assert cleaned.returncode == 0 and "work/kaokore" in cleaned.stdout
    shown = cli("cache").stdout
    assert "work store kaokore" not in shown and "build kaokore" not in shown


def test_build_drop_downloads_keeps_each_image_once(http_server, tmp_path):
    """`build --drop-downloads`: the fetch cache keeps none of the rows' images; a --retry-failed re-run
    asks upstream only for the failed record and reads every other image back from the build's rows."""
    src = serve_kaokore(http_server, bad={"00000001": "404"})
    args = ("build", "kaokore", "--config", "original", "--source", src, "--max-records", "4")
    first = cli(*args, "--drop-downloads")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "9 written, 1 failed" in first.stdout and "removed 9 downloads" in first.stdout, first.stdout
    assert re.search(r"fetch cache \(downloads\) +0 B +0 files", cli("cache").stdout)
    images = lambda: [p for _, p in http_server.log if not p.endswith((".txt", ".csv"))]  # noqa: E731
    asked = len(images())
    again = cli(*args, "--retry-failed")
    assert again.returncode == 0 and "9 written, 1 failed" in again.stdout, again.stdout
    redone = images()[asked:]
    assert len(redone) == 1 and http_server.hits(redone[0]) == 2, f"only the 404 is asked for again: {redone}"


def test_dedup_command_shows_its_progress_and_writes_the_report(http_server, tmp_path):
    """`artface dedup` on a finished build: a bar of images hashed and one of pairs compared, each with
    its total; the report's files are named."""
    src = serve_kaokore(http_server, bad={})
    assert cli("build", "kaokore", "--config", "original", "--source", src, "--max-records", "4").returncode == 0
    res = cli("dedup", "kaokore", "--config", "original", "--source", src, "--max-records", "4", "--out", str(tmp_path / "dd"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert re.search(r"images hashed: 100%.*\b10/10\b", res.stderr), res.stderr
    assert re.search(r"pairs compared: 100%.*\b45\.0/45\.0\b", res.stderr), res.stderr  # 10 images: 45 pairs
    assert json.loads(res.stdout[:res.stdout.rindex("}") + 1])["images"] == 10
    assert (tmp_path / "dd" / "duplicates.parquet").is_file() and "duplicates.parquet" in res.stdout


def test_cache_clean_removes_only_what_artface_made(http_server, tmp_path):
    import os

    cache = Path(os.environ["ARTFACE_CACHE"])
    elsewhere = tmp_path / "elsewhere"  # the user's folders, reached through a link in the cache
    (elsewhere / "kaokore" / "precious").mkdir(parents=True)
    (elsewhere / "kaokore" / "precious" / "data.txt").write_text("keep me")
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "work").symlink_to(elsewhere)
    out = Path(os.environ["ARTFACE_OUT"])
    (out / "kaokore" / "notes").mkdir(parents=True)  # a folder under ARTFACE_OUT that artface did not make
    (out / "kaokore" / "notes" / "n.txt").write_text("mine")
    res = cli("cache", "clean", "--all", "--yes")
    assert res.returncode == 0, res.stderr
    assert (elsewhere / "kaokore" / "precious" / "data.txt").read_text() == "keep me"
    assert (out / "kaokore" / "notes" / "n.txt").read_text() == "mine"
    assert "left" in res.stdout and "not made by artface" in res.stdout


def test_ctrl_c_under_num_proc_exits_130_with_the_resume_hint(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={}, delay=0.3)
    proc = subprocess.Popen([sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "aligned", "--source", src,
                             "--set", "size=64", "--set", "concurrency=1", "--set", "workers=1", "--num-proc", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
                            start_new_session=True)
    wait_for_outcomes(Path(os.environ["ARTFACE_CACHE"]) / "work" / "kaokore", 2, 60, proc)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole foreground process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "run the same command again to resume" in err and "Traceback" not in err and "TimeoutError" not in err


def test_ctrl_c_says_how_to_resume(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={}, delay=0.3)
    proc = subprocess.Popen([sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "aligned", "--source", src,
                             "--set", "size=64", "--set", "concurrency=1", "--set", "workers=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    wait_for_outcomes(Path(os.environ["ARTFACE_CACHE"]) / "work" / "kaokore", 2, 60, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted: finished records are kept; run the same command again to resume" in err
