"""What issue 9 asked the core to guarantee: each row holds its own record's pixels, no local path
reaches a public file, per-record companions fail only their record, and run settings do not
change any identity."""
from __future__ import annotations

import io
import zlib
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from artface.builders import load_builder
from artface.builders.metfaces.test_builder import make_source
from artface.builders.mm_celeba_hq.test_builder import make_layout
from artface.publish import publish
from artface.testing.images import astronaut_face_crop

KAOKORE = Path(__file__).resolve().parents[1] / "artface" / "builders" / "kaokore" / "fixtures"
UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream" / "kaokore"


def image_for(url: str) -> bytes:
    """A distinct, decodable face image for each URL."""
    return astronaut_face_crop(zlib.crc32(url.encode()) % 10_000, size=96)


def write_kaokore(root: Path, server, urls: list[str], labels: list[str], tags: list[str]) -> None:
    """A KaoKore metadata folder whose URLs are served by the local server, each with its own image."""
    root.mkdir(parents=True)
    local = [server.mirror(u, image_for(u)) if u.strip() else "" for u in urls]
    (root / "urls.txt").write_text("\n".join(local) + "\n")
    (root / "labels.csv").write_text("\n".join(labels) + "\n")
    (root / "original_tags.txt").write_text("\n".join(tags) + "\n")


def original_rows(builder) -> list[dict]:
    builder.download_and_prepare()
    rows = []
    for ds in builder.as_dataset().values():
        rows += list(ds.cast_column("image", datasets.Image(decode=False)))
    return rows


def test_same_ids_from_another_source_get_their_own_pixels(http_server, tmp_path):
    lines = (KAOKORE / "urls.txt").read_text().splitlines()[:6]
    labels = ["image,gender,status,set"] + [f"{i:08d}.jpg,0,0,train" for i in range(6)]
    write_kaokore(tmp_path / "a", http_server, lines, labels, [])
    write_kaokore(tmp_path / "b", http_server, [u.replace("://", "://mirror-b.", 1) for u in lines], labels, [])
    for config in ("original", "aligned"):
        built = {}
        for name in ("a", "b"):  # one ARTFACE_CACHE for both: the same ids, other URLs
            b = load_builder("kaokore", config, source=str(tmp_path / name), size=64, cache_dir=str(tmp_path / f"hf-{config}-{name}"))
            built[name] = {r["id"]: r for r in original_rows(b)}
        assert built["a"].keys() == built["b"].keys()
        for rid, row in built["b"].items():
            assert row["image_url"] != built["a"][rid]["image_url"]
            if config == "original":
                assert row["image"]["bytes"] == _mirrored_bytes(http_server, row["image_url"])
            else:
                assert row["image"]["bytes"] != built["a"][rid]["image"]["bytes"], "B's rows hold B's pixels"


def _mirrored_bytes(server, url: str) -> bytes:
    return server.routes[url[len(server.url):].split("?", 1)[0]].body


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="shared/upstream not beside the checkout")
def test_kaokore_v10_then_v13_in_one_cache_each_row_has_its_own_urls_pixels(http_server, tmp_path):
    root = tmp_path / "kaokore"
    for version_dir in ("dataset", "dataset_v1.3"):
        up = UPSTREAM / version_dir
        urls = (up / "urls.txt").read_text().split("\n")[:12]
        keep = {f"{i:08d}.jpg" for i in range(12)}
        labels = [ln for ln in (up / "labels.csv").read_text().splitlines() if ln.startswith("image") or ln.split(",")[0] in keep]
        tags = [ln for ln in (up / "original_tags.txt").read_text().splitlines() if ln.split(":")[0] in keep]
        write_kaokore(root / version_dir, http_server, urls, labels, tags)
    rows = {}
    for version in ("1.0", "1.3"):
        b = load_builder("kaokore", "original", source=str(root), dataset_version=version, include_unlabeled=True,
                         cache_dir=str(tmp_path / f"hf-{version}"))
        rows[version] = {r["id"]: r for r in original_rows(b)}
        for r in rows[version].values():
            assert r["image"]["bytes"] == _mirrored_bytes(http_server, r["image_url"]), f"v{version} {r['id']}"
    shared = rows["1.0"].keys() & rows["1.3"].keys()
    assert shared and all(rows["1.0"][i]["image_url"] != rows["1.3"][i]["image_url"] for i in shared)
    assert all(rows["1.0"][i]["image"]["bytes"] != rows["1.3"][i]["image"]["bytes"] for i in shared)


def test_changed_local_original_is_read_again(http_server, tmp_path):
    import hashlib
    import json

    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    kw = dict(source=str(src))  # one ARTFACE_CACHE (work store) for all three builds
    b = load_builder("metfaces", "original", cache_dir=str(tmp_path / "hf1"), **kw)
    b.download_and_prepare()
    first = b.as_dataset(split="train")[0]
    items = json.loads((src / "metfaces.json").read_text())
    raw = src / items[0]["source_path"]
    buf = io.BytesIO()
    Image.new("RGB", (123, 77), (10, 20, 30)).save(buf, "PNG")
    raw.write_bytes(buf.getvalue())  # the user replaces the raw file; its md5 no longer matches
    b2 = load_builder("metfaces", "original", cache_dir=str(tmp_path / "hf2"), **kw)
    b2.download_and_prepare()
    assert b2.report()["failed_by_reason"] == {"checksum_mismatch": 1}, "the replaced file is read again and checked"
    items[0]["source_md5"] = hashlib.md5(buf.getvalue()).hexdigest()  # a corrected metfaces.json
    (src / "metfaces.json").write_text(json.dumps(items))
    b3 = load_builder("metfaces", "original", cache_dir=str(tmp_path / "hf3"), **kw)
    b3.download_and_prepare()
    again = b3.as_dataset(split="train")[0]
    assert first["width"] != 123 and (again["width"], again["height"]) == (123, 77)


def test_metfaces_url_only_publish_from_a_local_download_holds_only_public_urls(http_server, tmp_path):
    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    dest = tmp_path / "hub"
    for config in ("urls", "aligned"):
        publish("metfaces", config, "urls", to=str(dest), source=str(src), size=64, cache_dir=str(tmp_path / "hf"))
    for shard in dest.rglob("*.parquet"):
        table = pq.read_table(shard)
        for col in ("image_url", "source_url", "meta_url"):
            for v in table.column(col).to_pylist():
                assert v is None or v.startswith(("http://", "https://")), (shard.name, col, v)
        assert str(tmp_path).encode() not in shard.read_bytes(), shard
    for f in dest.rglob("*"):
        if f.is_file() and f.suffix in (".md", ".json"):
            assert str(tmp_path) not in f.read_text(), f


def test_mm_celeba_corrupt_mask_and_sketch_fail_only_their_records(tmp_path):
    root = make_layout(tmp_path / "mm")
    (root / "CelebAMask-HQ-mask-anno" / "0" / "00001_nose.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    sketch = (root / "sketch" / "2.png").read_bytes()
    (root / "sketch" / "2.png").write_bytes(sketch[: len(sketch) // 2])  # truncated
    b = load_builder("mm_celeba_hq", data_dir=str(root), cache_dir=str(tmp_path / "hf"))
    b.download_and_prepare()
    rep = b.report()
    assert rep["failed"] == 2 and rep["failed_by_reason"] == {"corrupt_mask": 1, "corrupt_sketch": 1}
    assert {(f["id"], f["stage"]) for f in rep["failures"]} == {("1", "mask"), ("2", "sketch")}
    rows = [r for ds in b.as_dataset().values() for r in ds]
    assert len(rows) == 4 and {r["id"] for r in rows} == {"0", "3", "4", "5"}
    for r in rows:  # every written row reads back whole
        assert r["image"].size == (128, 128) and np.asarray(r["mask"]).shape == (64, 64)
        assert np.asarray(r["sketch"]).shape == (32, 32)


def test_run_settings_change_no_identity(tmp_path):
    a = load_builder("kaokore", "aligned", source=str(KAOKORE), cache_dir=str(tmp_path))
    b = load_builder("kaokore", "aligned", source=str(KAOKORE), cache_dir=str(tmp_path), concurrency=3, workers=1, threads=1,
                     fetch_timeout=5, fetch_retries=0, shard_size=7)
    assert a.config_id == b.config_id and a._cache_dir == b._cache_dir
    assert a.pixel_fingerprint() == b.pixel_fingerprint()
    for change in (dict(size=128), dict(warp="reference"), dict(iiif_size=512), dict(image_format="png"), dict(image_quality=80), dict(detector="scrfd_10g")):
        c = load_builder("kaokore", "aligned", source=str(KAOKORE), cache_dir=str(tmp_path), **change)
        assert c.pixel_fingerprint() != a.pixel_fingerprint(), change
