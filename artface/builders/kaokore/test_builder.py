"""KaoKore end to end: real metadata (trimmed) and images served by a real local HTTP server."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from artface.build import Build
from artface.builders import load_builder
from artface.builders.kaokore.builder import iiif_resize, tag_items, tag_line
from artface.testing.images import astronaut_face_crop, blank
from artface.testing.progress import wait_for_outcomes

FIXTURES = Path(__file__).parent / "fixtures"
UPSTREAM = Path(__file__).resolve().parents[4] / "shared" / "upstream" / "kaokore"
# id -> misbehaviour of its image URL
BAD = {"00000003": "404", "00000005": "flaky", "00000008": "stall", "00000009": "truncate", "00000011": "corrupt", "00000013": "blank"}


def serve_kaokore(server, bad: dict[str, str] = BAD, delay: float = 0.0) -> str:
    """Serve the fixture metadata with image hosts rewritten to the server; returns the source URL."""
    lines = (FIXTURES / "urls.txt").read_text().splitlines()
    local = []
    for i, url in enumerate(lines):
        stem, body = f"{i:08d}", astronaut_face_crop(i)
        kind = bad.get(stem, "ok")
        if kind in ("404", "503"):
            local.append(server.mirror(url, kind="status", status=int(kind)))
        elif kind == "flaky":
            local.append(server.mirror(url, body, kind="flaky", fail_codes=[500, 503]))
        elif kind == "stall":
            local.append(server.mirror(url, body, kind="stall", delay=3.0))
        elif kind == "truncate":
            local.append(server.mirror(url, body, kind="truncate"))
        elif kind == "corrupt":
            local.append(server.mirror(url, b"\xff\xd8\xff\xe0 definitely not a jpeg"))
        elif kind == "blank":
            local.append(server.mirror(url, blank()))
        elif delay:
            local.append(server.mirror(url, body, kind="stall", delay=delay))
        else:
            local.append(server.mirror(url, body))
    server.add("/meta/dataset_v1.3/urls.txt", ("\n".join(local) + "\n").encode())
    for name in ("labels.csv", "original_tags.txt"):
        server.add(f"/meta/dataset_v1.3/{name}", (FIXTURES / name).read_bytes())
    return server.url + "/meta"


FAST = dict(fetch_timeout=0.5, fetch_retries=2, concurrency=8)


#: records per split that contract_source() builds into, per config (pixel configs: max_records=5)
CONTRACT_SPLITS = {"urls": {"train": 32, "validation": 2, "test": 4}, "original": {"train": 5, "validation": 2, "test": 4},
                   "detected": {"train": 5, "validation": 2, "test": 4}, "aligned": {"train": 5, "validation": 2, "test": 4}}


def contract_source(tmp_path, server, config: str) -> dict:
    """Options that build every config from the fixtures (the shared builder contract test)."""
    return {"source": serve_kaokore(server, bad={})}


def test_tags_keep_repeated_keys_and_japanese():
    stem, rest = tag_line("00000000.jpg:制作年=from 1500;制作年=to 1600;タグ=中国;タグ=外国;向き=横", "t", 1)
    tags = tag_items(rest)
    assert stem == "00000000" and tags["制作年"] == ["from 1500", "to 1600"] and tags["タグ"] == ["中国", "外国"]


def kaokore_records(source: Path, tmp_path: Path, **options) -> dict[str, tuple]:
    """Every record read, as (split, image URL, fields, captions); those without a URL are in ``invalid``."""
    b = load_builder("kaokore", "urls", source=str(source), cache_dir=str(tmp_path / "c"), **options)
    good = {r.id: (r.split, r.image_url, r.fields, r.captions) for r in b.records()}
    return {**good, **{f.id: ("invalid", f.reason) for _, f in b.invalid}}


def test_join_does_not_depend_on_the_files_order(tmp_path):
    """labels.csv and original_tags.txt shuffled (upstream's labels.csv is in set order, not image
    order), an empty line in urls.txt keeping its index: the same records, each with its own labels and tags."""
    src = tmp_path / "shuffled"
    src.mkdir()
    urls = (FIXTURES / "urls.txt").read_text().split("\n")
    (src / "urls.txt").write_text("\n".join(urls[:3] + [""] + urls[4:]))
    head, *rows = (FIXTURES / "labels.csv").read_text().splitlines()
    (src / "labels.csv").write_text("\n".join([head] + rows[::-1]) + "\n")
    tags = (FIXTURES / "original_tags.txt").read_text().splitlines()
    (src / "original_tags.txt").write_text("\r\n".join(tags[1::2] + tags[::2]))  # CRLF, no final line end
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "urls.txt").write_text("\n".join(urls[:3] + [""] + urls[4:]))
    for name in ("labels.csv", "original_tags.txt"):
        (ref / name).write_bytes((FIXTURES / name).read_bytes())
    got, want = kaokore_records(src, tmp_path / "a", include_unlabeled=True), kaokore_records(ref, tmp_path / "b", include_unlabeled=True)
    assert got == want and len(got) > 30
    assert want["00000003"] == ("invalid", "no_url")  # the empty line: no URL, a failure, its index kept
    assert want["00000004"][1] == urls[4].strip()
    by_tags = {i: r[2]["original_tags"] for i, r in want.items() if r[0] != "invalid"}
    assert sum(bool(v) for v in by_tags.values()) > 30 and len(set(by_tags.values())) > 10


def test_iiif_resize_both_size_forms():
    assert iiif_resize("http://h/x.tif/1,2,3,4/256,256/0/default.jpg", 512) == "http://h/x.tif/1,2,3,4/512,512/0/default.jpg"
    assert iiif_resize("http://h/x.tif/1,2,3,4/256,/0/default.jpg", 512) == "http://h/x.tif/1,2,3,4/512,/0/default.jpg"
    with pytest.raises(ValueError, match="not a IIIF"):
        iiif_resize("http://h/plain.jpg", 512)


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="shared/upstream not beside the checkout")
@pytest.mark.parametrize(
    "version,labelled,splits,total",
    [("1.3", 9257, {"train": 7405, "validation": 926, "test": 926}, 9683), ("1.0", 5298, None, 5552)],
)
def test_urls_config_on_the_real_upstream_files(tmp_path, version, labelled, splits, total):
    b = load_builder("kaokore", "urls", source=str(UPSTREAM), dataset_version=version, cache_dir=str(tmp_path))
    b.download_and_prepare()
    ds = b.as_dataset()
    assert sum(len(d) for d in ds.values()) == labelled
    read = b.report()["upstream_files"]  # a local clone of the pinned tree is checked against the pins by path
    assert len(read) == 3 and {f["pin"] for f in read} == {"pinned"}, read
    if splits:
        assert {k: len(v) for k, v in ds.items()} == splits
    assert ds["train"].features["gender"].names == ["male", "female"]
    assert ds["train"].features["status"].names == ["noble", "warrior", "incarnation", "commoner"]
    b2 = load_builder("kaokore", "urls", source=str(UPSTREAM), dataset_version=version, include_unlabeled=True, cache_dir=str(tmp_path))
    b2.download_and_prepare()
    ds2 = b2.as_dataset()
    assert sum(len(d) for d in ds2.values()) == total
    unl = ds2["unlabeled"]
    assert set(unl["gender"]) == {-1} and set(unl["status"]) == {-1}
    assert set(unl["original_status"]) | set(unl["original_gender"]) <= {"僧侶", "神職", "動物", "不明", "貴族", "武士", "庶民", "化身", "男", "女"}


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="shared/upstream not beside the checkout")
@pytest.mark.parametrize("version,splits,no_url", [
    ("1.0", {"train": 4238, "validation": 533, "test": 527}, 0),
    ("1.1", {"train": 6568, "validation": 826, "test": 821}, 40),  # 40 labelled images have an empty line in urls.txt
    ("1.2", {"train": 6756, "validation": 845, "test": 845}, 0),
    ("1.3", {"train": 7405, "validation": 926, "test": 926}, 0),
])
def test_every_version_builds_from_the_real_files_with_upstreams_counts(tmp_path, version, splits, no_url):
    build = load_builder("kaokore", "urls", source=str(UPSTREAM), dataset_version=version).build().build
    rep = build.report
    assert {s: v["total"] for s, v in rep["splits"].items()} == splits, "every labelled image is a record"
    assert rep["failed_by_reason"] == ({"no_url": no_url} if no_url else {}) and rep["written"] == sum(splits.values()) - no_url
    assert build.num_rows() == rep["written"] and all(f["reason"] == "no_url" and f["id"] for f in rep["failures"])


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="shared/upstream not beside the checkout")
def test_v10_empty_lines_keep_their_index(tmp_path):
    lines = (UPSTREAM / "dataset" / "urls.txt").read_text().splitlines()
    b = load_builder("kaokore", "urls", source=str(UPSTREAM), dataset_version="1.0", include_unlabeled=True, cache_dir=str(tmp_path))
    recs = {r.id: r for r in b.records()}
    assert "00001890" not in recs and lines[1890] == ""  # an empty line: no image, index kept
    assert recs["00005823"].image_url == lines[5823]
    assert recs["00000000"].fields["year_from"] == 1500 and recs["00000000"].fields["face_direction"] == "three-quarter"


def test_urls_config_over_http(http_server, tmp_path):
    src = serve_kaokore(http_server)
    ds = load_builder("kaokore", "urls", source=src, cache_dir=str(tmp_path)).as_streaming_dataset()
    rows = {s: list(d) for s, d in ds.items()}
    assert {s: len(r) for s, r in rows.items()} == {"train": 32, "validation": 2, "test": 4}
    assert all(r["image_url"].startswith(http_server.url) for r in rows["train"])
    assert not any(p.endswith(".jpg") and "/meta/" not in p for _, p in http_server.log), "urls config fetches no pixels"


def test_aligned_build_reports_every_failure_and_keeps_the_rest(http_server, tmp_path):
    src = serve_kaokore(http_server)
    b = load_builder("kaokore", "aligned", source=src, size=128, cache_dir=str(tmp_path), **FAST)
    b.download_and_prepare()
    ds = b.as_dataset()
    rep = json.loads((Path(b._output_dir) / "artface_report.json").read_text())
    assert rep["total"] == 38 and rep["failed"] == 5 and rep["written"] == 33
    assert rep["failed_by_reason"] == {"http_404": 1, "timeout": 1, "truncated": 1, "corrupt_image": 1, "no_face": 1}
    by_id = {f["id"]: f for f in rep["failures"]}
    assert by_id["00000003"]["stage"] == "fetch" and by_id["00000013"]["reason"] == "no_face"
    assert "record 00000011" in by_id["00000011"]["detail"]
    assert sum(len(d) for d in ds.values()) == 33
    assert http_server.hits(urlsplit(_url(src, "00000005")).path) == 3  # 500, 503, then served
    row = ds["train"][0]
    assert row["image"].size == (128, 128)
    assert row["width"] == row["height"] == 256
    kps = np.array(row["kps5"])
    assert kps.shape == (5, 2) and (kps >= 0).all() and (kps < 256).all()
    x0, y0, x1, y1 = (row["bbox"][k] for k in ("x0", "y0", "x1", "y1"))
    assert x0 < kps[0, 0] < kps[1, 0] < x1


def _url(src: str, stem: str) -> str:
    lines = (FIXTURES / "urls.txt").read_text().splitlines()
    u = urlsplit(lines[int(stem)])
    return src.replace("/meta", "") + f"/{u.netloc}{u.path}"


def test_streaming_equals_non_streaming(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={})
    b = load_builder("kaokore", "aligned", source=src, size=64, max_records=6, cache_dir=str(tmp_path), **FAST)
    b.download_and_prepare()
    built = b.as_dataset()
    streamed = load_builder("kaokore", "aligned", source=src, size=64, max_records=6, cache_dir=str(tmp_path / "s"), **FAST).as_streaming_dataset()
    for split in built:
        a, s = list(built[split]), list(streamed[split])
        assert [r["id"] for r in a] == [r["id"] for r in s]
        for ra, rs in zip(a, s):
            assert np.array_equal(np.asarray(ra["image"]), np.asarray(rs["image"]))
            for pts in ("kps5", "kps5_aligned", "transform"):  # streamed rows are not cast to float32
                np.testing.assert_allclose(np.array(ra[pts], float), np.array(rs[pts], float), rtol=1e-6)
            floats = ("image", "kps5", "kps5_aligned", "transform", "bbox", "det_score", "eye_distance", "face_size",
                      "yaw", "roll", "blur")
            assert {k: v for k, v in ra.items() if k not in floats} == {k: v for k, v in rs.items() if k not in floats}
            for k in floats[5:]:
                assert ra[k] == pytest.approx(rs[k], rel=1e-6), k


def test_original_config_keeps_published_bytes_and_iiif_size(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={})
    b = load_builder("kaokore", "original", source=src, max_records=3, cache_dir=str(tmp_path), **FAST)
    b.download_and_prepare()
    ds = b.as_dataset().cast_column("image", __import__("datasets").Image(decode=False))
    row = ds["train"][0]
    assert row["image"]["bytes"] == astronaut_face_crop(int(row["id"]))
    b512 = load_builder("kaokore", "urls", source=src, iiif_size=512, cache_dir=str(tmp_path))
    assert all("/512,512/0/default.jpg" in r.image_url for r in b512.records())


def test_rerun_redoes_pending_and_retryable_failures_only(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={"00000003": "404", "00000005": "503"})
    kw = dict(source=src, size=64, max_records=8, fetch_timeout=0.5, fetch_retries=0, concurrency=8)
    res = load_builder("kaokore", "aligned", **kw).build()
    assert res.redone and res.build.report["failed_by_reason"] == {"http_404": 1, "http_503": 1}
    path1, path3, path5 = (urlsplit(_url(src, i)).path for i in ("00000001", "00000003", "00000005"))
    http_server.add(path3, astronaut_face_crop(3))  # both images come back online
    http_server.add(path5, astronaut_face_crop(5))
    res = load_builder("kaokore", "aligned", **kw).build()
    rep = res.build.report
    assert rep["failed_by_reason"] == {"http_404": 1} and rep["kept_from_last_run"] == {"http_404": 1}
    asked = lambda path: sum(1 for _, p in http_server.log if p == path)  # noqa: E731
    assert asked(path5) == 2 and asked(path3) == 1, "503 retried, 404 kept (permanent)"
    assert asked(path1) == 1, "finished records are not fetched again"

    before = len(http_server.log)  # nothing to redo: the finished build is returned with no request at all
    res = load_builder("kaokore", "aligned", **kw).build()
    assert not res.redone and len(http_server.log) == before

    res = load_builder("kaokore", "aligned", **kw).build(retry_failed=True)  # --retry-failed
    rep = res.build.report
    assert rep["failed"] == 0 and rep["written"] == rep["total"] and asked(path3) == 2
    ids = [r["id"] for d in res.build.datasets().values() for r in d]
    assert len(ids) == len(set(ids)) == rep["total"]


def test_killed_build_resumes_to_the_full_set(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={}, delay=0.15)
    out, cache = tmp_path / "out", tmp_path / "hf"
    cmd = [sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "aligned", "--source", src, "--out", str(out),
           "--cache-dir", str(cache), "--set", "size=64", "--set", "concurrency=2", "--set", "workers=1"]
    env = dict(os.environ)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    work = Path(os.environ["ARTFACE_CACHE"]) / "work" / "kaokore"
    wait_for_outcomes(work, 8, 60, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(work.rglob("*.ok.json")))
    assert 8 <= done_before < 38, "killed mid-way"
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "38 written, 0 failed, of 38 records" in res.stdout
    b = load_builder("kaokore", "aligned", source=src, size=64, cache_dir=str(cache))
    ids = [r["id"] for d in Build.open(out).datasets().values() for r in d]
    assert len(ids) == len(set(ids)) == 38
    assert sorted(ids) == sorted(r.id for r in b.records())
    refetched = sum(1 for _, p in http_server.log if p.endswith("default.jpg")) - 38
    assert refetched <= 38 - done_before + 2 * 2, "finished records were not downloaded again"


def test_missing_metadata_file_is_a_clear_error(http_server, tmp_path):
    http_server.add("/m/urls.txt", (FIXTURES / "urls.txt").read_bytes())
    http_server.add("/m/labels.csv", (FIXTURES / "labels.csv").read_bytes())
    b = load_builder("kaokore", "urls", source=http_server.url + "/m", cache_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="missing original_tags.txt"):
        b.download_and_prepare()


def test_bad_version_and_bad_labels(tmp_path):
    with pytest.raises(ValueError, match="dataset_version must be one of"):
        load_builder("kaokore", "urls", source=str(FIXTURES), dataset_version="2.0", cache_dir=str(tmp_path)).records()
    bad = tmp_path / "bad"
    bad.mkdir()
    for n in ("urls.txt", "original_tags.txt"):
        (bad / n).write_bytes((FIXTURES / n).read_bytes())
    (bad / "labels.csv").write_text("image,gender,status,set\n00000001.jpg,1,0,holdout\n")
    with pytest.raises(ValueError, match="line 2: unknown set 'holdout'"):
        load_builder("kaokore", "urls", source=str(bad), cache_dir=str(tmp_path / "c")).records()


def test_num_proc_build_counts_failures_from_every_process(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={"00000003": "404", "00000020": "corrupt"})
    b = load_builder("kaokore", "aligned", source=src, size=64, shard_size=8, cache_dir=str(tmp_path), **FAST)
    b.download_and_prepare(num_proc=2)
    rep = b.report()
    assert rep["failed_by_reason"] == {"http_404": 1, "corrupt_image": 1} and rep["written"] == 36
    ids = [r["id"] for d in b.as_dataset().values() for r in d]
    assert len(ids) == len(set(ids)) == 36


def test_artface_load_dataset_convenience(tmp_path):
    import artface

    ds = artface.load_dataset("kaokore", "urls", source=str(FIXTURES), split="train", cache_dir=str(tmp_path))
    assert len(ds) == 32 and ds.features["status"].names[1] == "warrior"
    stream = artface.load_dataset("kaokore", "urls", source=str(FIXTURES), split="test", streaming=True, cache_dir=str(tmp_path))
    assert len(list(stream)) == 4


def test_a_labels_row_with_extra_fields_names_file_and_line(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for n in ("urls.txt", "original_tags.txt"):
        (bad / n).write_bytes((FIXTURES / n).read_bytes())
    (bad / "labels.csv").write_text("image,gender,status,set\n00000001.jpg,1,0,train\n00000002.jpg,1,0,train,extra\n")
    with pytest.raises(ValueError, match=r"labels.csv line 3: 1 field\(s\) more than the header's 4"):
        load_builder("kaokore", "urls", source=str(bad)).records()


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="shared/upstream not beside the checkout")
def test_a_local_copy_of_upstream_that_differs_from_the_pin_is_named_in_the_report(tmp_path, caplog):
    """The user's own clone is their choice: a file that differs from the pin is built from, with a
    warning and ``differs`` in the report (a pinned URL that changed stops the build instead)."""
    import shutil

    clone = tmp_path / "kaokore"
    shutil.copytree(UPSTREAM / "dataset_v1.3", clone / "dataset_v1.3")
    labels = clone / "dataset_v1.3" / "labels.csv"
    labels.write_bytes(labels.read_bytes().replace(b",train\n", b",train\r\n", 1))  # other bytes, the same rows
    b = load_builder("kaokore", "urls", source=str(clone))
    assert len(b.records()) == 9257
    assert {f["file"]: f["pin"] for f in b.report()["upstream_files"]} == {"urls.txt": "pinned", "labels.csv": "differs",
                                                                           "original_tags.txt": "pinned"}
    assert "dataset_v1.3/labels.csv differs from the upstream file artface pinned" in caplog.text


def test_upstream_pins_are_the_real_files_at_the_pinned_commit():
    """checksums.tsv pins the files a default KaoKore build reads (rois-codh/kaokore at 2a12178) by url,
    size and sha256: the copies of those files in shared/upstream match them byte for byte."""
    import hashlib

    from artface.builders.kaokore.builder import UPSTREAM as PINNED, VERSION_DIRS, KaoKore
    from artface.sources import read_pins

    pins = read_pins(KaoKore.FOLDER / "checksums.tsv")
    wanted = {f"{PINNED}/{d}/{n}" for d in VERSION_DIRS.values() for n in ("urls.txt", "labels.csv", "original_tags.txt")}
    assert set(pins) == wanted and "/master" not in PINNED
    if UPSTREAM.is_dir():  # the real files, beside the checkout
        for url, pin in pins.items():
            data = (UPSTREAM / url[len(PINNED) + 1:]).read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (pin.size, pin.sha256), url
