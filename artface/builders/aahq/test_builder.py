"""AAHQ end to end over a real local HTTP server: dead URLs are reported, the rest aligned."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from artface.builders import load_builder
from artface.builders.aahq.builder import raw_name
from artface.licenses import PublishRefused
from artface.sources import MetadataError
from artface.publish import publish
from artface.testing.images import astronaut_scene
from artface_align import align, detect_faces

FIXTURES = Path(__file__).parent / "fixtures"
DEAD = {"00001.png": 404, "00003.png": 503}


def serve_aahq(server, dead=DEAD) -> str:
    items = json.loads((FIXTURES / "AAHQ-dataset.json").read_text())
    for key, item in items.items():
        fx = item["_fixture"]
        if key in dead:
            item["image_url"] = server.mirror(item["image_url"], kind="status", status=dead[key])
        else:
            item["image_url"] = server.mirror(item["image_url"], astronaut_scene(fx["scale"], tuple(fx["offset"]), tuple(fx["canvas"]), "JPEG"))
    return server.add("/aahq/AAHQ-dataset.json", json.dumps(items).encode())


FAST = dict(fetch_timeout=2.0, fetch_retries=1)


#: records per split that contract_source() builds into, per config (pixel configs: max_records=5)
CONTRACT_SPLITS = {"urls": {"train": 5}, "aligned": {"train": 5}}


def contract_source(tmp_path, server, config: str) -> dict:
    return {"source": serve_aahq(server, dead={})}


def test_raw_name_rule():
    assert raw_name("https://cdnb.artstation.com/p/assets/images/images/012/345/678/large/a-b.jpg?1") == "012_345_678_large_a-b.jpg"
    items = json.loads((FIXTURES / "AAHQ-dataset.json").read_text())
    assert all(raw_name(i["image_url"]) == i["raw_name"] for i in items.values())


def test_urls_config_lists_every_record_without_fetching(http_server, tmp_path):
    src = serve_aahq(http_server)
    rows = list(load_builder("aahq", "urls", source=src, cache_dir=str(tmp_path)).as_streaming_dataset(split="train"))
    assert [r["aligned_name"] for r in rows] == ["00000.png", "00001.png", "00002.png", "00003.png", "00004.png"]
    assert rows[0]["landmarks4"][0] == pytest.approx([264.8, 140.8]) and rows[0]["kps5"] is None
    assert not [p for _, p in http_server.log if "artstation" in p]


def test_aligned_build_succeeds_with_dead_urls_reported(http_server, tmp_path):
    src = serve_aahq(http_server)
    b = load_builder("aahq", "aligned", source=src, size=128, image_format="png", cache_dir=str(tmp_path), **FAST)
    b.download_and_prepare()
    rep = b.report()
    assert rep["written"] == 3 and rep["failed_by_reason"] == {"http_404": 1, "http_503": 1}
    assert {f["id"] for f in rep["failures"]} == {"00001", "00003"}
    ds = b.as_dataset(split="train")
    items = json.loads((FIXTURES / "AAHQ-dataset.json").read_text())
    for row in ds:
        item = items[row["aligned_name"]]
        fx = item["_fixture"]
        raw = astronaut_scene(fx["scale"], tuple(fx["offset"]), tuple(fx["canvas"]), "JPEG")
        pts = np.array([item["landmarks"][k] for k in ("eye_left", "eye_right", "mouth_left", "mouth_right")])
        expect = align(raw, pts, 128, recipe="aahq", warp="fast").image
        assert np.array_equal(np.asarray(row["image"]), np.asarray(expect))
        (lx, ly), (rx, ry) = detect_faces(row["image"])[0].kps5[:2]
        assert abs(ly - ry) < 3
    streamed = list(load_builder("aahq", "aligned", source=src, size=128, cache_dir=str(tmp_path / "s"), **FAST)
                    .as_streaming_dataset(split="train"))
    assert [r["id"] for r in streamed] == [r["id"] for r in ds]


def test_card_carries_the_bias_caution_and_pixels_are_refused(http_server, tmp_path):
    src = serve_aahq(http_server)
    dest = tmp_path / "hub"
    publish("aahq", "urls", "urls", to=str(dest), source=src, cache_dir=str(tmp_path / "hf"))
    card = (dest / "README.md").read_text()
    assert "Bias caution" in card and "license: cc-by-nc-sa-4.0" in card and "No image data is included" in card
    with pytest.raises(PublishRefused, match="belong to their Artstation artists"):
        publish("aahq", "aligned", "pixels", to=str(dest), source=src)


def test_bad_json_is_a_clear_error(tmp_path):
    (tmp_path / "AAHQ-dataset.json").write_text(json.dumps({"x.png": {"image_url": "http://h/x.jpg", "landmarks": {"eye_left": [1, 2]}}}))
    with pytest.raises(ValueError, match=r"record 'x.png': missing \['landmarks.eye_right'"):
        load_builder("aahq", "urls", source=str(tmp_path), cache_dir=str(tmp_path / "c")).records()
    with pytest.raises(FileNotFoundError, match="needs --source"):
        load_builder("aahq", "urls", cache_dir=str(tmp_path / "d")).records()


def aahq_row(i: int) -> str:
    marks = {"eye_left": [1, 2], "eye_right": [3, 4], "mouth_left": [1, 6], "mouth_right": [3, 6]}
    return json.dumps(f"{i:05d}.png") + ": " + json.dumps({"image_url": f"https://cdna.artstation.com/p/{i}.jpg", "landmarks": marks})


def aahq_text(n: int, odd: dict[int, str] | None = None) -> str:
    """n records, one per line; ``odd`` replaces record i's text (what the streaming parser may not read)."""
    rows = [aahq_row(i) for i in range(n)]
    for i, text in (odd or {}).items():
        rows[i] = text
    return "{\n" + ",\n".join(rows) + "\n}"


def aahq_ids(tmp_path: Path, text: str) -> list[str]:
    folder = tmp_path / f"src{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / "AAHQ-dataset.json").write_bytes(text.encode("utf-8"))
    return [r.id for r in load_builder("aahq", "urls", source=str(folder), cache_dir=str(tmp_path / "c")).records()]


def test_the_json_is_streamed_and_what_the_stream_cannot_read_is_read_whole(tmp_path):
    """A million records are never one parsed object (ijson); a NaN, a BOM or a syntax error that the
    streaming parser refuses is read again whole, records neither lost nor given twice, errors by line."""
    plain = aahq_ids(tmp_path, aahq_text(5))
    assert plain == [f"{i:05d}" for i in range(5)]
    nan = '"00003.png": {"image_url": "https://cdna.artstation.com/p/3.jpg", "raw_name": NaN, ' \
          '"landmarks": {"eye_left": [1, 2], "eye_right": [3, 4], "mouth_left": [1, 6], "mouth_right": [3, 6]}}'
    assert aahq_ids(tmp_path, aahq_text(5, {3: nan})) == plain  # Python's json reads NaN; yajl does not
    assert aahq_ids(tmp_path, "\ufeff" + aahq_text(5)) == plain
    with pytest.raises(MetadataError, match=r"AAHQ-dataset.json line 5 column \d+: invalid JSON"):
        aahq_ids(tmp_path, aahq_text(6, {3: '"00003.png": {"image_url" "x"}'}))
    with pytest.raises(MetadataError, match=r"AAHQ-dataset.json record '00001.png': duplicate key 'eye_left'"):
        aahq_ids(tmp_path, aahq_text(3, {1: '"00001.png": {"image_url": "u", "landmarks": {"eye_left": [1, 2], "eye_left": [1, 2]}}'}))
    with pytest.raises(MetadataError, match=r"AAHQ-dataset.json: duplicate key '00001.png'"):
        aahq_ids(tmp_path, aahq_text(4, {3: aahq_row(1)}))
    with pytest.raises(MetadataError, match=r"AAHQ-dataset.json: must be an object keyed by aligned file name, got list"):
        aahq_ids(tmp_path, "[1, 2]")
    with pytest.raises(MetadataError, match=r"AAHQ-dataset.json line 7 column 1: invalid JSON \(Extra data\)"):
        aahq_ids(tmp_path, aahq_text(4) + "\n{}")


def test_brackets_nested_without_end_are_refused_in_a_moment(tmp_path):
    """400 kB of nested brackets: a streaming parser that keeps a path per level needs ~24 GB for it
    (ijson's kvitems did; the machine killed the process). Refused at the 17th level instead."""
    with pytest.raises(MetadataError, match=r"AAHQ-dataset.json record 'a.png': nested more than 16 deep"):
        aahq_ids(tmp_path, '{"a.png": ' + "[" * 200_000 + "]" * 200_000 + "}")
