"""Metadata is third-party input: it can name only public http(s) resources, and local files come
only from the user's own --source layout. Real files, FIFOs, symlinks and a real HTTP server."""
from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from artface.builders import load_builder
from artface.builders.metfaces.test_builder import make_source
from artface.publish import publish
from artface.testing.images import astronaut_face_crop

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not for the Hub"


def kaokore_source(root: Path, urls: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
    (root / "labels.csv").write_text("image,gender,status,set\n" + "".join(f"{i:08d}.jpg,0,0,train\n" for i in range(len(urls))))
    (root / "original_tags.txt").write_text("")
    return root


def test_metadata_cannot_make_a_build_read_or_publish_the_users_files(http_server, tmp_path):
    secret = tmp_path / "home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_bytes(SECRET)
    good = http_server.add("/iiif/a.jpg", astronaut_face_crop(1))
    hostile = [str(secret), f"file://{secret}", "hf://datasets/me/private/train.parquet",
               f"simplecache::file://{secret}", "../../home/.ssh/id_ed25519", good]
    src = kaokore_source(tmp_path / "src", hostile)
    b = load_builder("kaokore", "original", source=str(src), cache_dir=str(tmp_path / "hf"))
    b.download_and_prepare()
    rep = b.report()
    assert rep["written"] == 1 and rep["failed_by_reason"] == {"unsupported_url": 5}
    dest = tmp_path / "pub"
    publish("kaokore", "original", "pixels", to=str(dest), private=True, source=str(src), cache_dir=str(tmp_path / "hf"))
    for f in dest.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert SECRET not in data and str(tmp_path).encode() not in data, f
    rows = pq.read_table(next(dest.rglob("*.parquet"))).to_pylist()
    assert [r["image_url"] for r in rows] == [good]


def test_source_paths_stay_inside_the_folder_and_fifos_never_hang(http_server, tmp_path):
    src = make_source(tmp_path, http_server, local=(), bad_md5=())
    items = json.loads((src / "metfaces.json").read_text())
    outside = tmp_path / "outside.png"
    outside.write_bytes(SECRET)
    (src / "unprocessed" / "link.png").symlink_to(outside)  # a symlink out of the folder
    os.mkfifo(src / "unprocessed" / "fifo.png")  # a FIFO named by the metadata
    items[0]["source_path"] = "unprocessed/link.png"
    items[1]["source_path"] = "unprocessed/fifo.png"
    items[2]["source_path"] = str(outside)  # absolute
    (src / "metfaces.json").write_text(json.dumps(items))
    b = load_builder("metfaces", "original", source=str(src), cache_dir=str(tmp_path / "hf"))
    recs = {r.id: r for r in b.records()}
    ids = [r.id for r in b.records()]
    assert [recs[i].fetch.via for i in ids[:3]] == ["url"] * 3, "links out, FIFOs and absolute paths are not used"
    b.download_and_prepare()
    for ds in b.as_dataset().values():
        for row in ds.cast_column("image", datasets.Image(decode=False)):
            assert row["image"]["bytes"] != SECRET
    # a folder source with a FIFO and a link out among its images: refused, the rest built
    folder = tmp_path / "wikiart" / "realism" / "ilya-repin"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(astronaut_face_crop(1, fmt="PNG"))
    os.mkfifo(folder / "b.png")
    (folder / "c.png").symlink_to(outside)
    w = load_builder("wikiart_face", "released", source=str(tmp_path / "wikiart"), cache_dir=str(tmp_path / "hf2"))
    w.download_and_prepare()
    rep = w.report()
    assert rep["written"] == 1 and rep["failed_by_reason"] == {"not_a_file": 1}


def test_line_separators_inside_a_line_do_not_shift_ids(http_server, tmp_path):
    urls = [http_server.add(f"/img{i}.jpg", astronaut_face_crop(i)) for i in range(4)]
    urls[1] += "?note=a\u2028b"  # Python's splitlines() would break here; upstream's reader does not
    b = load_builder("kaokore", "urls", source=str(kaokore_source(tmp_path / "src", urls)), cache_dir=str(tmp_path / "hf"))
    got = {r.id: r.image_url for r in b.records()}
    assert got["00000002"] == urls[2] and got["00000003"] == urls[3] and len(got) == 4


def test_an_error_page_is_never_kept_as_the_image(http_server, tmp_path):
    path = "/iiif/flaky-host.jpg"
    url = http_server.add(path, b"<html>Service temporarily unavailable</html>", content_type="text/html")
    src = kaokore_source(tmp_path / "src", [url])
    kw = dict(source=str(src), cache_dir=str(tmp_path / "hf"))
    b = load_builder("kaokore", "original", **kw)
    b.download_and_prepare()
    assert b.report()["failed_by_reason"] == {"corrupt_image": 1}
    http_server.add(path, astronaut_face_crop(3))  # the host is back
    b2 = load_builder("kaokore", "original", **kw)
    assert b2.build().build.report["failed_by_reason"] == {"corrupt_image": 1}, "permanent: kept, not fetched again"
    assert http_server.hits(path) == 0
    rep = load_builder("kaokore", "original", **kw).build(retry_failed=True).build.report  # --retry-failed
    assert rep["written"] == 1 and http_server.hits(path) == 1, "fetched again, not served from the cache"


@pytest.mark.parametrize("option,value,expect", [
    ("size", "abc", "size='abc' is not a valid int"),
    ("concurrency", "0", "concurrency=0 is not allowed: use 1..256"),
    ("workers", "0", "workers=0 is not allowed"),
    ("image_format", "gif", "image_format='gif' is not allowed: use png | jpeg | webp"),
    ("warp", "bogus", "warp='bogus' is not allowed: use fast | reference"),
    ("max_records", "-1", "max_records=-1 is not allowed"),
])
def test_options_are_checked_before_any_work(http_server, tmp_path, option, value, expect):
    with pytest.raises(ValueError, match=expect.replace("(", r"\(").replace("|", r"\|")):
        load_builder("kaokore", "aligned", source=http_server.url + "/nothing", cache_dir=str(tmp_path), **{option: value})
    assert http_server.log == [], "nothing was fetched"


def test_options_parse_by_declared_type(tmp_path):
    b = load_builder("kaokore", "urls", dataset_version="1.2", iiif_size="512", include_unlabeled="true", cache_dir=str(tmp_path))
    assert (b.config.dataset_version, b.config.iiif_size, b.config.include_unlabeled) == ("1.2", 512, True)
