"""A finished build is an artifact (artface.build): set-up errors before any record, every record a
row or a counted failure, identity from values and content, opt-out kept through the caches, and
readers that open the build offline."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import datasets
import pytest

from artface.build import Build, NotBuilt
from artface.builders import load_builder
from artface.builders.aahq.test_builder import FIXTURES as AAHQ_FIXTURES
from artface.builders.kaokore.test_builder import serve_kaokore
from artface.export import export
from artface.pipeline import SetupError
from artface.sources import SourceError
from artface.testing.images import astronaut_face_crop, astronaut_scene


def local_kaokore(root: Path, urls: list[str], tags: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "urls.txt").write_text("\n".join(urls) + "\n")
    (root / "labels.csv").write_text("image,gender,status,set\n" + "".join(f"{i:08d}.jpg,{i % 2},0,train\n" for i in range(len(urls))))
    (root / "original_tags.txt").write_text(tags)
    return root


def test_a_missing_model_fails_before_any_record(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={})
    b = load_builder("kaokore", "aligned", source=src, detector="scrfd_10g", size=64, max_records=3)
    with pytest.raises(SetupError, match="scrfd_10g"):
        b.build()
    fetched = [p for _, p in http_server.log if p.endswith(".jpg")]
    assert not fetched, "no record was attempted"
    assert not (Path(os.environ["ARTFACE_CACHE"]) / "work").exists(), "no failure was stored for any record"
    # the command line says it in one line, exit 1, naming what is missing
    res = subprocess.run([sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "aligned", "--source", src,
                          "--set", "detector=scrfd_10g", "--max-records", "2"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and "scrfd_10g" in res.stderr, res.stderr
    assert "written" not in res.stdout


def test_rows_that_cannot_be_made_are_counted_failures(http_server, tmp_path):
    # KaoKore: a year of 10^12 does not fit the int32 column; the others build
    urls = [http_server.add(f"/i/{i}.jpg", astronaut_face_crop(i)) for i in range(4)]
    src = local_kaokore(tmp_path / "k", urls, tags="00000001.jpg:制作年=from 1000000000000\n")
    rep = load_builder("kaokore", "urls", source=str(src)).build().build.report
    assert rep["failed_by_reason"] == {"bad_value": 1} and rep["written"] == 3
    assert rep["failures"][0]["id"] == "00000001" and "column year_from (int32)" in rep["failures"][0]["detail"]
    # AAHQ: ids from the metadata that no key or file name can hold
    items = json.loads((AAHQ_FIXTURES / "AAHQ-dataset.json").read_text())
    keys = list(items)
    items["顔.png"] = items.pop(keys[0])
    items["....png"] = items.pop(keys[1])
    for item in items.values():
        fx = item.pop("_fixture")
        item["image_url"] = http_server.mirror(item["image_url"], astronaut_scene(fx["scale"], tuple(fx["offset"]), tuple(fx["canvas"]), "JPEG"))
    meta = http_server.add("/aahq/AAHQ-dataset.json", json.dumps(items).encode())
    build = load_builder("aahq", "aligned", source=meta, size=64, fetch_retries=0).build().build
    assert build.report["failed_by_reason"] == {"bad_id": 2} and build.num_rows() == len(items) - 2
    assert {f["id"] for f in build.report["failures"]} == {"顔", "..."}


def test_zero_records_is_an_error_naming_the_source(tmp_path):
    src = local_kaokore(tmp_path / "empty", [])
    with pytest.raises(SourceError, match=f"{src}.* lists no records"):
        load_builder("kaokore", "urls", source=str(src)).build()


def test_spelling_and_content_identity(http_server, tmp_path):
    urls = [http_server.add(f"/i/{i}.jpg", astronaut_face_crop(i)) for i in range(3)]
    src = local_kaokore(tmp_path / "k", urls)
    base = load_builder("kaokore", "aligned").default_output_dir()
    assert load_builder("kaokore", "aligned", size=256, image_format="jpeg", warp="fast").default_output_dir() == base
    os.chdir(tmp_path)
    assert (load_builder("kaokore", "urls", source="k").default_output_dir()
            == load_builder("kaokore", "urls", source=str(src) + "/").default_output_dir()), "one place, one spelling"
    assert load_builder("kaokore", "aligned", size=128).default_output_dir() != base

    first = load_builder("kaokore", "urls", source=str(src)).build()
    assert first.build.num_rows() == 3
    # the local source is edited in place: the same command rebuilds from it (no stale rows, no "0 written")
    local_kaokore(src, urls + [http_server.add("/i/3.jpg", astronaut_face_crop(3))])
    again = load_builder("kaokore", "urls", source=str(src)).build()
    assert again.redone and again.build.num_rows() == 4 and again.build.report["written"] == 4
    same = load_builder("kaokore", "urls", source=str(src)).build()
    assert not same.redone and same.build.meta["build_id"] == again.build.meta["build_id"]


def test_optout_is_kept_through_the_caches(http_server, tmp_path):
    url = http_server.add("/i/noai.jpg", astronaut_face_crop(1), kind="raw", headers={"X-Robots-Tag": "noai"})
    ok = http_server.add("/i/ok.jpg", astronaut_face_crop(2))
    src = local_kaokore(tmp_path / "k", [url, ok])
    lax = load_builder("kaokore", "original", source=str(src), respect_optout=False).build().build
    assert lax.report["written"] == 2
    strict = load_builder("kaokore", "original", source=str(src)).build().build
    assert strict.folder != lax.folder
    assert strict.report["failed_by_reason"] == {"opted_out": 1} and strict.num_rows() == 1


def test_readers_open_a_build_offline_and_name_the_command_when_missing(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={"00000003": "404"})
    b = load_builder("kaokore", "original", source=src, max_records=4, fetch_retries=0)
    with pytest.raises(NotBuilt, match=r"run `artface build kaokore --config original --source http://127\.0\.0\.1:\d+/meta "
                                       r"--set max_records=4 --set fetch_retries=0`|run `artface build kaokore --config original"):
        Build.find(b)
    built = b.build().build
    http_server.stop()  # no network at all from here on
    opened = Build.open(built.folder)
    assert opened.options["max_records"] == 4 and opened.kind.pixels and opened.features == b.info.features
    assert opened.report["failed_by_reason"] == {"http_404": 1}
    stats = export(opened, "webdataset", tmp_path / "wds")
    assert sum(s["samples"] for s in stats["splits"].values()) == opened.num_rows()
    plain = datasets.load_dataset(str(built.folder))  # no artface needed to read it
    assert sorted(plain) == sorted(opened.splits) and plain["train"].features == opened.features


def test_a_build_stopped_by_no_record_names_its_cause(tmp_path, monkeypatch):
    from artface.build import BuildStopped
    from artface.builders.kaokore.builder import KaoKore

    src = local_kaokore(tmp_path / "k", ["https://example.org/iiif/a/full/256,256/0/default.jpg"])

    def disk_full(self, rec, out=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(KaoKore, "make_row", disk_full)  # what the writer meets when the disk is full
    with pytest.raises(BuildStopped, match="the build stopped: OSError: .*No space left on device"):
        load_builder("kaokore", "urls", source=str(src)).build()
    assert not list((Path(os.environ["ARTFACE_OUT"]) / "kaokore").glob("*/artface_build.json")), "nothing half-made is a build"


def test_export_keys_are_unique_and_every_row_keeps_its_own_image(http_server, tmp_path):
    import io

    import webdataset as wds
    from PIL import Image

    items = json.loads((AAHQ_FIXTURES / "AAHQ-dataset.json").read_text())
    names = ["a.b.png", "a_b.png", "a-b.png", "x" * 300 + "1.png", "x" * 300 + "2.png"]
    renamed = {}
    for new, (key, item) in zip(names, items.items()):
        fx = item.pop("_fixture")
        item["image_url"] = http_server.mirror(item["image_url"], astronaut_scene(fx["scale"], tuple(fx["offset"]),
                                                                                   tuple(fx["canvas"]), "JPEG"))
        renamed[new] = item
    meta = http_server.add("/aahq/AAHQ-dataset.json", json.dumps(renamed).encode())
    build = load_builder("aahq", "aligned", source=meta, size=64, fetch_retries=0).build().build
    rows = {r["id"]: r for r in build.dataset("train").cast_column("image", datasets.Image(decode=False))}
    assert len(rows) == 5, build.report["failures"]

    export(build, "webdataset", tmp_path / "wds")
    samples = list(wds.WebDataset(str(tmp_path / "wds" / "train-00000.tar"), shardshuffle=False))
    assert len({s["__key__"] for s in samples}) == len(samples) == 5
    for s in samples:
        assert s["jpg"] == rows[json.loads(s["json"])["id"]]["image"]["bytes"], "each sample holds its own row's image"
    export(build, "imagefolder", tmp_path / "folder")
    got = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "folder" / "train"), split="train")
    assert len(got) == 5
    for r in got:
        want = Image.open(io.BytesIO(rows[r["id"]]["image"]["bytes"]))
        assert r["image"].size == want.size and list(r["image"].getdata())[:50] == list(want.convert(r["image"].mode).getdata())[:50]


def test_aligned_rows_carry_their_points_in_the_published_frame(http_server, tmp_path):
    import numpy as np

    src = serve_kaokore(http_server, bad={})
    build = load_builder("kaokore", "aligned", source=src, size=128, max_records=3).build().build
    plain = datasets.load_dataset(str(build.folder), split="train")  # what a datasets user gets, no artface
    for row in plain:
        m = np.asarray(row["transform"], dtype=np.float64)
        src_pts = np.asarray(row["kps5"], dtype=np.float64)
        mapped = src_pts @ m[:, :2].T + m[:, 2]
        assert np.allclose(mapped, row["kps5_aligned"], atol=1e-3), "kps5_aligned = transform applied to kps5"
        eye_l, eye_r, nose, mouth_l, mouth_r = np.asarray(row["kps5_aligned"])
        assert 0 < eye_l[0] < eye_r[0] < 128 and eye_l[1] < nose[1] < mouth_l[1] < 128, "on the published face"
        assert row["image"].size == (128, 128)


def test_on_no_face_crop_keeps_every_labelled_face_and_counts_it(http_server, tmp_path):
    from artface.testing.images import blank

    urls = [http_server.add(f"/i/{i}.jpg", blank() if i == 1 else astronaut_face_crop(i)) for i in range(4)]
    tags = "00000002.jpg:向き=後\n00000003.jpg:向き=横\n"
    src = local_kaokore(tmp_path / "k", urls, tags=tags)
    dropped = load_builder("kaokore", "aligned", source=str(src), size=64).build().build
    assert dropped.report["failed_by_reason"] == {"no_face": 1} and dropped.num_rows() == 3
    kept = load_builder("kaokore", "aligned", source=str(src), size=64, on_no_face="crop").build().build
    assert kept.folder != dropped.folder and kept.report["failed"] == 0 and kept.num_rows() == 4
    rows = {r["id"]: r for r in kept.dataset("train")}
    assert rows["00000001"]["landmarks_source"] == "crop" and rows["00000001"]["kps5"] is None  # no face found
    assert rows["00000002"]["landmarks_source"] == "crop", "the back of a head: kept whole, no detection"
    assert rows["00000003"]["landmarks_source"] != "crop" and all(r["image"].size == (64, 64) for r in rows.values())
    by_dir = kept.report["by_label"]["face_direction"]
    assert by_dir["back"] == {"kept as crop": 1} and by_dir["side"] == {"written": 1}
    assert dropped.report["by_label"]["gender"]["female"].get("failed") == 1


def test_an_original_build_keeps_one_copy_of_each_image(http_server, tmp_path):
    """The fetch cache holds the bytes; the work store keeps the outcome and no second copy; a re-run
    after the fetch cache was cleaned fetches the images again rather than losing them."""
    import shutil

    src = serve_kaokore(http_server, bad={})
    opts = dict(source=src, max_records=3, fetch_retries=0)
    b = load_builder("kaokore", "original", **opts)
    first = b.build().build
    work = b.work_dir()
    assert list(work.rglob("*.ok.json")) and not list(work.rglob("*.image.bin")), "the image is not stored twice"
    images = {r["id"]: r["image"]["bytes"] for r in first.dataset("train").cast_column("image", datasets.Image(decode=False))}
    assert all(images.values())
    shutil.rmtree(Path(os.environ["ARTFACE_CACHE"]) / "fetch")
    shutil.rmtree(first.folder)
    asked = sum(1 for _, p in http_server.log if p.endswith("default.jpg"))
    again = load_builder("kaokore", "original", **opts).build().build
    rows = again.dataset("train").cast_column("image", datasets.Image(decode=False))
    assert {r["id"]: r["image"]["bytes"] for r in rows} == images
    assert sum(1 for _, p in http_server.log if p.endswith("default.jpg")) > asked, "fetched again, not lost"


def _images(build: Build) -> dict[str, bytes]:
    """Every split's image bytes by id."""
    return {r["id"]: r["image"]["bytes"] for s in build.splits
            for r in build.dataset(s).cast_column("image", datasets.Image(decode=False))}


@pytest.mark.parametrize("num_proc", [1, 2])
def test_an_aligned_build_holds_its_images_once(http_server, tmp_path, num_proc):
    """Once a build is finished its rows hold the aligned images and the work store drops its copies;
    a re-run takes finished records' images from the build's rows (nothing aligned again), and with
    the build removed the records are made again from the fetch cache rather than lost."""
    import shutil

    src = serve_kaokore(http_server, bad={"00000002": "503"})
    opts = dict(source=src, max_records=6, size=64, fetch_retries=0)
    b = load_builder("kaokore", "aligned", **opts)
    first = b.build(num_proc=num_proc).build
    assert first.report["failed_by_reason"] == {"http_503": 1}
    images = _images(first)
    assert len(images) == first.num_rows() >= 4
    work = b.work_dir()
    assert len(list(work.rglob("*.ok.json"))) == len(images) and not list(work.rglob("*.bin")), "the build holds the images"
    assert (work / "builds.tsv").read_text().split() == [str(first.folder)]

    failed = urlsplit(first.report["failures"][0]["url"]).path
    fetch_cache = Path(os.environ["ARTFACE_CACHE"]) / "fetch"
    shutil.copytree(fetch_cache, tmp_path / "fetch")
    shutil.rmtree(fetch_cache)  # so that a record made again would be asked for again
    asked = len(http_server.log)
    second = load_builder("kaokore", "aligned", **opts).build(num_proc=num_proc).build  # redoes the 503 only
    assert second.report["failed_by_reason"] == {"http_503": 1} and second.meta["build_id"] != first.meta["build_id"]
    assert _images(second) == images
    assert {p for _, p in http_server.log[asked:] if p.endswith(".jpg")} == {failed}, "no finished record was made again"
    assert not list(work.rglob("*.bin"))
    shutil.copytree(tmp_path / "fetch", fetch_cache)

    shutil.rmtree(second.folder)  # the images' home is gone: made again from the fetch cache, no request
    asked = len(http_server.log)
    third = load_builder("kaokore", "aligned", **opts).build(num_proc=num_proc).build
    assert set(_images(third)) == set(images) and all(_images(third).values())
    assert {p for _, p in http_server.log[asked:] if not p.startswith("/meta/")} == {failed}, \
        "only the failed record's image is asked again"


def test_a_build_with_other_options_reads_the_images_another_build_holds(http_server, tmp_path):
    """Two builds with the same pixels (here a sample and a larger one) share one work store: the larger
    takes the sample's records from the sample's rows and aligns only the others; both stay readable."""
    import shutil

    src = serve_kaokore(http_server, bad={})
    small = load_builder("kaokore", "aligned", source=src, max_records=2, size=64).build().build
    shutil.rmtree(Path(os.environ["ARTFACE_CACHE"]) / "fetch")  # so that an image made again is asked again
    asked = len(http_server.log)
    larger = load_builder("kaokore", "aligned", source=src, max_records=4, size=64)
    big = larger.build().build
    assert larger.work_dir() == load_builder("kaokore", "aligned", source=src, max_records=2, size=64).work_dir()
    kept = _images(small)
    assert {k: v for k, v in _images(big).items() if k in kept} == kept
    images_asked = [p for _, p in http_server.log[asked:] if p.endswith(".jpg")]
    assert len(images_asked) == big.num_rows() - len(kept) > 0, "only the records the sample lacks are fetched and aligned"
    assert not list(larger.work_dir().rglob("*.bin"))
    assert (larger.work_dir() / "builds.tsv").read_text().split() == [str(big.folder), str(small.folder)]
    assert _images(Build.open(small.folder)) == kept


def test_a_damaged_build_is_no_home_for_images(http_server, tmp_path):
    """Row keys of the wrong length and rows that cannot be read: the re-run makes those records again,
    never takes a wrong row and never stops."""
    import shutil

    src = serve_kaokore(http_server, bad={"00000002": "503"})
    opts = dict(source=src, max_records=4, size=64, fetch_retries=0)
    first = load_builder("kaokore", "aligned", **opts).build().build
    images = _images(first)
    keys = first.folder / "row_keys" / "train.bin"
    keys.write_bytes(keys.read_bytes()[:-5])  # no longer a row each: no index for the split
    for f in first.files("validation"):
        f.write_bytes(b"not arrow")  # rows that cannot be read back
    shutil.rmtree(Path(os.environ["ARTFACE_CACHE"]) / "fetch")  # so that a record made again is asked for again
    asked = len(http_server.log)
    second = load_builder("kaokore", "aligned", **opts).build().build
    assert second.report["failed_by_reason"] == {"http_503": 1}
    got = _images(second)
    assert set(got) == set(images) and all(got.values())
    made_again = {p for _, p in http_server.log[asked:] if p.endswith(".jpg")}
    damaged = first.num_rows("train") + first.num_rows("validation")
    assert len(made_again) == damaged + 1, "the damaged splits' records (and the 503) were made again, no others"


def test_an_original_build_can_drop_its_downloads(http_server, tmp_path):
    """`artface cache clean NAME --downloads`: the fetch cache's copies of a finished build's images go,
    so each image is on disk once (in the rows); a re-run reads them back there and asks for nothing."""
    from artface.cache import drop_downloads, held_downloads

    src = serve_kaokore(http_server, bad={"00000002": "503"})
    opts = dict(source=src, max_records=4, fetch_retries=0)
    first = load_builder("kaokore", "original", **opts).build().build
    images = _images(first)
    held = held_downloads(first)
    assert len(held) == len(images) and sum(p.stat().st_size for p in held) == sum(map(len, images.values()))
    assert drop_downloads(["kaokore"]) == (sum(map(len, images.values())), len(images))
    assert held_downloads(first) == [] and drop_downloads([]) == (0, 0)
    failed = urlsplit(first.report["failures"][0]["url"]).path
    asked = len(http_server.log)
    again = load_builder("kaokore", "original", **opts).build(retry_failed=True).build
    assert _images(again) == images
    assert {p for _, p in http_server.log[asked:] if p.endswith(".jpg")} == {failed}, "only the failed record is asked for"
