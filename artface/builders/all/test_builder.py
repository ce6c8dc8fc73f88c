"""The union of member datasets, and near-duplicates within and across them: real member builds
from their fixtures over a local HTTP server, with planted duplicates."""
from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from artface.builders import load_builder
from artface.builders.kaokore.test_builder import serve_kaokore
from artface.builders.metfaces.test_builder import make_source
from artface.licenses import PublishRefused
from artface.publish import publish
from artface.testing.images import astronaut_face_crop


#: records per split that contract_source() builds into, per config (pixel configs: max_records=5)
CONTRACT_SPLITS = {"urls": {"kaokore_train": 32, "kaokore_validation": 2, "kaokore_test": 4, "metfaces_train": 4},
                   "aligned": {"kaokore_train": 5, "kaokore_validation": 2, "kaokore_test": 4, "metfaces_train": 4}}


def contract_source(tmp_path, server, config: str) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return {"members": ["kaokore", "metfaces"], "sources": [f"kaokore={serve_kaokore(server, bad={})}",
                                                           f"metfaces={make_source(tmp_path, server, local=(0, 1), bad_md5=())}"]}


def test_union_rows_keep_member_ids_labels_and_licenses(http_server, tmp_path):
    opts = contract_source(tmp_path / "src", http_server, "urls")
    b = load_builder("all", "urls", cache_dir=str(tmp_path / "hf"), **opts)
    b.download_and_prepare()
    ds = b.as_dataset()
    assert set(ds) == {"kaokore_train", "kaokore_validation", "kaokore_test", "metfaces_train"}
    k = ds["kaokore_train"][0]
    m = ds["metfaces_train"][0]
    names = ds["kaokore_train"].features["dataset"].names
    assert names[k["dataset"]] == "kaokore" and k["id"] == f"kaokore/{k['member_id']}" and k["license"] == "cc-by-sa-4.0"
    assert k["gender"] in (0, 1) and k["title"]  # KaoKore's label and source work
    assert names[m["dataset"]] == "metfaces" and m["license"] == "cc-by-nc-2.0" and m["artist"].startswith("Rembrandt")
    assert m["kps5"] is not None and m["landmarks68"] is not None
    rep = b.report()
    assert rep["members"]["kaokore"]["written"] == 38 and rep["members"]["metfaces"]["written"] == 4 and rep["written"] == 42


def test_union_publish_applies_each_members_policy_row_by_row(http_server, tmp_path):
    opts = contract_source(tmp_path / "src", http_server, "aligned")
    dest = tmp_path / "pub"
    publish("all", "aligned", "pixels", to=str(dest), size=64, max_records=3, cache_dir=str(tmp_path / "hf"), **opts)
    k = pq.read_table(next((dest / "aligned").glob("kaokore_train-*.parquet"))).to_pylist()
    m = pq.read_table(next((dest / "aligned").glob("metfaces_train-*.parquet"))).to_pylist()
    assert all(r["image"] is None for r in k) and all(r["image_url"] for r in k), "KaoKore: URL-only by its policy"
    assert all(r["image"] and r["image"]["bytes"] for r in m), "MetFaces allows pixel shards"
    card = (dest / "README.md").read_text()
    assert "| `kaokore` | cc-by-sa-4.0 | 8 | no (URL-only by its policy)" in card, "3 + 2 + 3 rows of its three splits"
    assert "| `metfaces` | cc-by-nc-2.0 | 3 | yes" in card and "pixels** for the members that allow them" in card
    with pytest.raises(PublishRefused, match="member mm_celeba_hq blocks a public pixels publish"):
        publish("all", "aligned", "pixels", to=str(tmp_path / "x"), members=["kaokore", "mm_celeba_hq"])
    assert not (tmp_path / "x").exists()


def test_dedup_finds_planted_duplicates_and_split_leakage(http_server, tmp_path):
    from artface.dedup import dedup

    src = serve_kaokore(http_server, bad={})
    # planted: record 1 (train) again as record 33 (validation), re-encoded at JPEG q60; record 2 (train)
    # mirrored as record 34 (train)
    lines = (Path(__file__).parents[1] / "kaokore" / "fixtures" / "urls.txt").read_text().splitlines()
    buf = io.BytesIO()
    Image.open(io.BytesIO(astronaut_face_crop(1))).save(buf, "JPEG", quality=60)
    http_server.mirror(lines[33], buf.getvalue())
    buf = io.BytesIO()
    Image.open(io.BytesIO(astronaut_face_crop(2))).transpose(Image.FLIP_LEFT_RIGHT).save(buf, "JPEG", quality=90)
    http_server.mirror(lines[34], buf.getvalue())
    b = load_builder("kaokore", "original", source=src, cache_dir=str(tmp_path / "hf"))
    summary = dedup([b.build().build], tmp_path / "dd")
    pairs = pq.read_table(tmp_path / "dd" / "duplicates.parquet").to_pylist()
    by_ids = {tuple(sorted((p["id_a"], p["id_b"]))): p for p in pairs}
    leak, mirrored = by_ids[("00000001", "00000033")], by_ids[("00000002", "00000034")]
    assert {leak["split_a"], leak["split_b"]} == {"train", "validation"} and mirrored["split_a"] == mirrored["split_b"] == "train"
    assert summary["images"] == 38 and summary["across_splits (leakage)"] >= 1
    groups = {r["id"]: r["dup_group"] for r in pq.read_table(tmp_path / "dd" / "groups.parquet").to_pylist()}
    assert groups["00000001"] == groups["00000033"] and groups["00000002"] == groups["00000034"]
    assert Image.open(tmp_path / "dd" / "contact_sheet.png").height == 128 * min(24, len(pairs))


def test_union_flags_or_drops_near_duplicates(http_server, tmp_path):
    opts = contract_source(tmp_path / "src", http_server, "aligned")
    kw = dict(size=64, max_records=3, **opts)
    flagged = load_builder("all", "aligned", duplicates="flag", cache_dir=str(tmp_path / "f"), **kw)
    flagged.download_and_prepare()
    rows = [r for d in flagged.as_dataset().values() for r in d]
    groups = [r["dup_group"] for r in rows if r["dup_group"] >= 0]
    assert groups, "the fixtures are crops of one photo: their aligned faces are near-duplicates"
    drop = load_builder("all", "aligned", duplicates="drop", cache_dir=str(tmp_path / "d"), **kw)
    drop.download_and_prepare()
    kept = [r for d in drop.as_dataset().values() for r in d]
    assert len(kept) == len(rows) - (len(groups) - len(set(groups)))
    rep = drop.report()
    assert rep["skipped"] == {"near_duplicate_dropped": len(rows) - len(kept)} and rep["written"] == len(kept)
    assert len({r["dup_group"] for r in kept if r["dup_group"] >= 0}) == len(set(groups)), "one row per group kept"


def test_union_repo_takes_the_strictest_members_terms_on_the_hub(http_server, tmp_path):
    import os
    import subprocess
    import sys

    from artface.testing.hub_server import HubServer

    server = HubServer().start()
    env = dict(os.environ, HF_ENDPOINT=server.url, HF_TOKEN=server.token, HF_HUB_DISABLE_XET="1",
               HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1")
    try:
        src = make_source(tmp_path / "m", http_server, local=(0, 1), bad_md5=())
        k = serve_kaokore(http_server, bad={})
        common = ["--mode", "pixels", "--set", "size=64", "--max-records", "2"]
        cli = [sys.executable, "-m", "artface.cli", "publish"]
        union = subprocess.run([*cli, "all", "--config", "aligned", *common, "--set", f"sources=kaokore={k},metfaces={src}",
                                "--only", "kaokore,metfaces", "--to", "hf://datasets/artface/corpus"],
                               capture_output=True, text=True, env=env, timeout=600)
        assert union.returncode == 0, union.stderr
        alone = subprocess.run([*cli, "metfaces", "--config", "aligned", *common, "--source", str(src),
                                "--to", "hf://datasets/artface/metfaces"], capture_output=True, text=True, env=env, timeout=600)
        assert alone.returncode == 0, alone.stderr
        corpus, metfaces = server.repos["artface/corpus"], server.repos["artface/metfaces"]
        assert corpus.gated == "auto" and metfaces.gated == "auto", "MetFaces' non-commercial pixels are gated in both repos"
        card = corpus.head[1]["README.md"].data.decode()
        own = metfaces.head[1]["README.md"].data.decode()
        notice = "you agree to use it for non-commercial purposes only"
        assert notice in card and notice in own and "Rows of metfaces (cc-by-nc-2.0)" in card
        assert "extra_gated_prompt" in card and "| `metfaces` | cc-by-nc-2.0 |" in card
        first = card.split("data_files:", 1)[1].split("path:", 1)[0]
        assert "metfaces_train" in first, "the repo opens on the split that holds pixels"
    finally:
        server.stop()
