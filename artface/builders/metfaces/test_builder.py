"""MetFaces end to end: local raw files, md5 checks, and the Met's URLs served by a real local HTTP server."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from artface.builders import load_builder
from artface.builders.metfaces.builder import source_landmarks
from artface.testing.images import astronaut_scene
from artface_align import align, detect_faces

FIXTURES = Path(__file__).parent / "fixtures"


def make_source(tmp_path: Path, server, local=(0, 1, 2), bad_md5=(2,)) -> Path:
    """A folder like the user's download: metfaces.json + unprocessed/ (some raw files), the rest online."""
    items = json.loads((FIXTURES / "metfaces.json").read_text())
    root = tmp_path / "metfaces"
    (root / "unprocessed").mkdir(parents=True)
    for i, item in enumerate(items):
        fx = item["_fixture"]
        data = astronaut_scene(fx["scale"], tuple(fx["offset"]), tuple(fx["canvas"]))
        item["source_md5"] = hashlib.md5(data).hexdigest() if i not in bad_md5 else "f" * 32
        item["source_url"] = server.mirror(item["source_url"], data)
        if i in local:
            (root / item["source_path"]).write_bytes(data)
    (root / "metfaces.json").write_text(json.dumps(items))
    return root


#: records per split that contract_source() builds into, per config (pixel configs: max_records=5)
CONTRACT_SPLITS = {"urls": {"train": 4}, "aligned": {"train": 4}, "original": {"train": 4}}


def contract_source(tmp_path, server, config: str) -> dict:
    """A user's download with some raw files local and the rest online (the shared contract test)."""
    return {"source": str(make_source(tmp_path, server, local=(0, 1), bad_md5=()))}


def test_urls_config_has_landmarks_and_captions(http_server, tmp_path):
    src = make_source(tmp_path, http_server)
    ds = load_builder("metfaces", "urls", source=str(src), cache_dir=str(tmp_path / "hf")).as_streaming_dataset(split="train")
    rows = list(ds)
    assert [r["id"] for r in rows] == ["00000-00", "00001-00", "00002-00", "00003-01"]
    assert rows[0]["captions"] == ["Portrait of a Woman, by Rembrandt (Rembrandt van Rijn)"]
    assert rows[1]["captions"] == ["Head of a Man"]
    assert len(rows[0]["landmarks68"]) == 68 and rows[3]["face_idx"] == 1
    items = json.loads((src / "metfaces.json").read_text())
    np.testing.assert_allclose(rows[1]["landmarks68"], source_landmarks(items[1]["face_spec"]), rtol=1e-6)
    assert not [p for _, p in http_server.log if "CRDImages" in p], "no pixels fetched for urls"


def test_aligned_uses_json_landmarks_md5_and_urls(http_server, tmp_path):
    src = make_source(tmp_path, http_server)
    b = load_builder("metfaces", "aligned", source=str(src), size=256, cache_dir=str(tmp_path / "hf"))
    b.download_and_prepare()
    rep = b.report()
    assert rep["written"] == 3 and rep["failed_by_reason"] == {"checksum_mismatch": 1}
    assert rep["failures"][0]["id"] == "00002-00" and rep["failures"][0]["stage"] == "verify"
    fetched = [p for _, p in http_server.log if "CRDImages" in p]
    assert len(fetched) == 1 and "00003-01" in fetched[0], "local raw files are used; only the missing one is fetched"
    ds = b.as_dataset(split="train")
    items = {Path(i["image_path"]).stem: i for i in json.loads((src / "metfaces.json").read_text())}
    for row in ds:
        item = items[row["id"]]
        fx = item["_fixture"]
        raw = astronaut_scene(fx["scale"], tuple(fx["offset"]), tuple(fx["canvas"]))
        expect = align(raw, source_landmarks(item["face_spec"]), 256, recipe="metfaces", warp="reference").image
        assert np.array_equal(np.asarray(row["image"]), np.asarray(expect)), "the MetFaces recipe, reference mode"
        again = detect_faces(row["image"])
        assert len(again) == 1
        (lx, ly), (rx, ry) = again[0].kps5[:2]
        assert abs(ly - ry) < 3 and lx < 128 < rx, "eyes level and either side of the centre"


def test_bad_metadata_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="needs --source"):
        load_builder("metfaces", "urls", cache_dir=str(tmp_path)).records()
    (tmp_path / "metfaces.json").write_text(json.dumps([{"obj_id": 1, "image_path": "images/x.png"}]))
    with pytest.raises(ValueError, match=r"record 0 \(images/x.png\): missing \['source_url', 'face_spec'\]"):
        load_builder("metfaces", "urls", source=str(tmp_path), cache_dir=str(tmp_path / "c")).records()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_builder("metfaces", "urls", source=str(tmp_path / "nowhere"), cache_dir=str(tmp_path / "d")).records()


def test_source_path_cannot_escape_the_folder(http_server, tmp_path):
    src = make_source(tmp_path, http_server, local=())
    items = json.loads((src / "metfaces.json").read_text())
    (tmp_path / "secret.png").write_bytes(b"x")
    items[0]["source_path"] = "../secret.png"
    (src / "metfaces.json").write_text(json.dumps(items))
    recs = load_builder("metfaces", "urls", source=str(src), cache_dir=str(tmp_path / "hf")).records()
    assert recs[0].image_url.startswith("http://127.0.0.1"), "a traversing source_path is not followed"
