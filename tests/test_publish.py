"""Publishing: folder and Hub destinations, license refusals, idempotence, interrupted pushes,
and the round trip through plain `datasets` (no artface imported) in a fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from artface.builders import load_builder, policy_table
from artface.builders.metfaces.test_builder import make_source
from artface.licenses import PublishRefused, check_publish
from artface.publish import nice_shard_count, publish
from artface.testing.hub_server import HubServer
from artface.validate import validate

KAOKORE_FIXTURES = Path(__file__).resolve().parents[1] / "artface" / "builders" / "kaokore" / "fixtures"

READER = """
import json, sys, datasets
args = json.loads(sys.argv[1])
out = {}
for streaming in (False, True):
    ds = datasets.load_dataset(args["path"], args.get("config"), split=args["split"], streaming=streaming)
    rows = []
    for r in ds:
        if "image" in r:
            r["image"] = list(r["image"].size) + [int(__import__("numpy").asarray(r["image"]).sum())]
        rows.append(r)
    out["streaming" if streaming else "rows"] = rows
    if not streaming:
        out["features"] = ds.features.to_dict()
out["artface_imported"] = any(m == "artface" or m.startswith("artface.") for m in sys.modules)
print("RESULT" + json.dumps(out, default=str))
"""


def read_with_plain_datasets(path: str, split: str, config: str | None = None, env: dict | None = None, cwd=None) -> dict:
    res = subprocess.run([sys.executable, "-c", READER, json.dumps({"path": path, "config": config, "split": split})],
                         capture_output=True, text=True, env=env or dict(os.environ), cwd=cwd, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.split("RESULT", 1)[1])
    assert out["artface_imported"] is False
    return out


def builder_rows(builder, split: str) -> list[dict]:
    rows = []
    for r in builder.as_dataset(split=split):
        r.pop("image", None)
        rows.append(r)
    return rows


def close(a, b) -> bool:
    """Values equal, floats within float32 precision (streamed examples are not cast)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-5 * max(1.0, abs(a))
    return a == b


def test_policy_table_covers_every_builder_with_reasons():
    table = policy_table()
    assert {"kaokore", "metfaces"} <= set(table)
    for p in table.values():
        assert p.reason and p.source and p.attribution
    assert table["kaokore"].public_modes == ("urls",) and table["metfaces"].public_modes == ("urls", "processed")
    assert table["metfaces"].gated and table["metfaces"].hub_license == "cc-by-nc-2.0"


def test_refusals_say_why_and_what_is_allowed(tmp_path):
    with pytest.raises(PublishRefused, match=r"upstream intentionally ships no image data.*Allowed: public urls, private processed"):
        publish("kaokore", "original", "processed", to=str(tmp_path / "k"), source=str(KAOKORE_FIXTURES))
    assert not (tmp_path / "k").exists(), "refused before any work"
    check_publish(policy_table()["kaokore"], "processed", private=True)  # explicitly private: allowed


def test_kaokore_urls_round_trip_through_plain_datasets(tmp_path):
    dest = tmp_path / "hub" / "kaokore"
    res = publish("kaokore", "urls", "urls", to=str(dest), source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    assert res.changed and res.rows == {"train": 32, "validation": 2, "test": 4}
    assert (dest / "data" / "train-00000-of-00001.parquet").is_file()
    assert validate(str(dest)) == []
    card = (dest / "README.md").read_text()
    assert "license: cc-by-sa-4.0" in card and "No image data is included" in card and "doi:10.20676/00000353" in card
    b = load_builder("kaokore", "urls", source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    got = read_with_plain_datasets(str(dest), "validation", cwd=tmp_path)
    assert got["features"] == b.info.features.to_dict()
    assert close(got["rows"], builder_rows(b, "validation")) and close(got["streaming"], got["rows"])
    # features travel in the parquet schema metadata: ClassLabels survive without the README
    (dest / "README.md").unlink()
    bare = read_with_plain_datasets(str(dest / "data"), "train", cwd=tmp_path)
    assert bare["features"]["gender"] == {"names": ["male", "female"], "_type": "ClassLabel"}
    # the same content again changes nothing
    (dest / "README.md").write_text(card)
    again = publish("kaokore", "urls", "urls", to=str(dest), source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    assert again.changed is False


def test_metfaces_both_modes_in_one_repo(http_server, tmp_path):
    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    dest = tmp_path / "hub" / "metfaces"
    kw = dict(source=str(src), cache_dir=str(tmp_path / "hf"))
    publish("metfaces", "urls", "urls", to=str(dest), **kw)
    res = publish("metfaces", "aligned", "processed", to=str(dest), size=64, **kw)
    assert res.config == "aligned" and res.rows == {"train": 4}
    assert validate(str(dest)) == []
    meta = json.loads((dest / "artface.json").read_text())
    assert meta["default"] == "urls" and set(meta["configs"]) == {"urls", "aligned"}
    card = (dest / "README.md").read_text()
    assert "extra_gated_prompt" in card and "license: cc-by-nc-2.0" in card and "assets/urls-preview.png" in card
    assert meta["configs"]["aligned"]["build"]["detector"] == "none (upstream landmarks)"
    assert (dest / "aligned" / "train-00000-of-00001.parquet").is_file() and (dest / "assets" / "aligned-preview.png").is_file()
    pf = pq.ParquetFile(dest / "aligned" / "train-00000-of-00001.parquet")
    assert b"huggingface" in pf.schema_arrow.metadata  # features in the schema
    got = read_with_plain_datasets(str(dest), "train", config="aligned", cwd=tmp_path)
    b = load_builder("metfaces", "aligned", size=64, **kw)
    built = list(b.as_dataset(split="train"))
    assert [r["id"] for r in got["rows"]] == [r["id"] for r in built]
    for g, r in zip(got["rows"], built):
        assert g["image"] == [64, 64, int(np.asarray(r["image"]).sum())]
    assert got["streaming"] == got["rows"] or close(got["streaming"], got["rows"])
    urls = read_with_plain_datasets(str(dest), "train", cwd=tmp_path)  # the default config
    assert "image" not in urls["features"] and len(urls["rows"]) == 4


def test_url_only_mode_of_a_pixel_config_keeps_landmarks_not_pixels(http_server, tmp_path):
    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    dest = tmp_path / "hub" / "m"
    res = publish("metfaces", "aligned", "urls", to=str(dest), source=str(src), size=64, cache_dir=str(tmp_path / "hf"))
    assert res.config == "aligned-urls"
    schema = pq.read_schema(dest / "data" / "train-00000-of-00001.parquet")
    assert "image" not in schema.names and str(schema.field("image_url").type) == "string"


def test_validate_finds_problems(tmp_path):
    dest = tmp_path / "k"
    publish("kaokore", "urls", "urls", to=str(dest), source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    card = (dest / "README.md").read_text()
    (dest / "README.md").write_text(card.replace("license: cc-by-sa-4.0", "license: cc-by-sa-2.0"))
    assert any("cc-by-sa-2.0" in p for p in validate(str(dest)))
    (dest / "README.md").write_text(card)
    (dest / "data" / "test-00000-of-00001.parquet").unlink()
    assert any("split 'test': no file matches" in p for p in validate(str(dest)))
    assert validate(str(tmp_path / "nothing")) == [f"{tmp_path / 'nothing'}: no README.md"]


def test_shard_counts_divide_by_world_sizes():
    assert [nice_shard_count(n) for n in (1, 2, 7, 8, 9, 20)] == [1, 8, 8, 8, 16, 24]


# -- the Hub destination, through a real huggingface_hub client and a local Hub-protocol server ---

@pytest.fixture
def hub(tmp_path):
    server = HubServer().start()
    env = dict(os.environ, HF_ENDPOINT=server.url, HF_TOKEN=server.token, HF_HUB_DISABLE_XET="1",
               HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1")
    yield server, env
    server.stop()


def run_cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "artface.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def test_hub_push_load_republish_interrupt(hub, http_server, tmp_path):
    server, env = hub
    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    common = ["--source", str(src), "--to", "hf://datasets/artface/metfaces"]
    first = run_cli(["publish", "metfaces", "--config", "aligned", "--mode", "processed", "--set", "size=64", *common], env)
    assert first.returncode == 0, first.stderr[-3000:]
    repo = server.repos["artface/metfaces"]
    assert repo.gated == "auto" and len(repo.commits) == 2
    head, files = repo.head
    assert files["data/train-00000-of-00001.parquet"].lfs and "README.md" in files
    # load through the same server, no artface, streaming too
    reader_env = {k: v for k, v in env.items() if k != "HF_TOKEN"}
    got = read_with_plain_datasets("artface/metfaces", "train", env=env | {"HF_DATASETS_CACHE": str(tmp_path / "dc")}, cwd=tmp_path)
    assert len(got["rows"]) == 4 and got["rows"][0]["image"][:2] == [64, 64]
    assert close(got["streaming"], got["rows"])
    checked = run_cli(["validate", "hf://datasets/artface/metfaces"], env)
    assert checked.returncode == 0 and "OK" in checked.stdout, checked.stdout + checked.stderr
    # the same content again: no new commit
    again = run_cli(["publish", "metfaces", "--config", "aligned", "--mode", "processed", "--set", "size=64", *common], env)
    assert again.returncode == 0 and "no change" in again.stdout and len(repo.commits) == 2
    # a publish that fails at commit time leaves the previous revision intact
    server.fail_next_commit = True
    broken = run_cli(["publish", "metfaces", "--config", "aligned", "--mode", "processed", "--set", "size=32", *common], env)
    assert broken.returncode != 0 and repo.head[0] == head
    still = read_with_plain_datasets("artface/metfaces", "train", env=reader_env | {"HF_DATASETS_CACHE": str(tmp_path / "dc2")}, cwd=tmp_path)
    assert still["rows"][0]["image"][:2] == [64, 64]
    # the token never appears in what we print or write
    token = server.token
    outputs = [first.stdout, first.stderr, again.stdout, again.stderr, broken.stdout, broken.stderr]
    assert not any(token in o for o in outputs)
    for blob in repo.head[1].values():
        assert token.encode() not in blob.data
    for root in (Path(env["HF_HOME"]), Path(os.environ["ARTFACE_CACHE"])):
        for p in root.rglob("*"):
            if p.is_file() and p.name != "token" and p.stat().st_size < 50_000_000:
                assert token.encode() not in p.read_bytes(), p
    writes = [r for r in server.log if any(k in r["path"] for k in ("/repos/create", "/preupload/", "/commit/", "/settings", "/info/lfs/"))]
    unauthenticated = [(r["method"], r["path"]) for r in writes if r["headers"].get("authorization") != f"Bearer {token}"]
    assert writes and not unauthenticated


def test_hub_refuses_public_processed_kaokore(hub, tmp_path):
    server, env = hub
    res = run_cli(["publish", "kaokore", "--config", "original", "--mode", "processed", "--source", str(KAOKORE_FIXTURES),
                   "--to", "hf://datasets/artface/kaokore"], env)
    assert res.returncode == 2 and "refused" in res.stderr and "Allowed: public urls" in res.stderr
    assert "artface/kaokore" not in server.repos


def test_republish_with_other_sharding_leaves_no_stale_shards(tmp_path):
    dest = tmp_path / "k"
    kw = dict(to=str(dest), source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    publish("kaokore", "urls", "urls", max_shard_size="5KB", **kw)
    n = len(list((dest / "data").glob("train-*")))
    assert n > 1 and n % 8 == 0  # small shards, in a count that divides by 8
    publish("kaokore", "urls", "urls", **kw)
    assert [p.name for p in (dest / "data").glob("train-*")] == ["train-00000-of-00001.parquet"]
    assert not list(dest.glob(".data.*")) and validate(str(dest)) == []
    got = read_with_plain_datasets(str(dest), "train", cwd=tmp_path)
    assert len(got["rows"]) == 32


# -- publish safety: visibility and gating before any data; nothing empty --------------------------

def test_private_onto_an_existing_public_repo_is_refused_before_any_upload(hub, tmp_path):
    server, env = hub
    common = ["--config", "urls", "--mode", "urls", "--source", str(KAOKORE_FIXTURES), "--to", "hf://datasets/artface/k"]
    assert run_cli(["publish", "kaokore", *common], env).returncode == 0
    repo = server.repos["artface/k"]
    assert repo.private is False
    commits = len(repo.commits)
    res = run_cli(["publish", "kaokore", "--private", *common], env)
    assert res.returncode == 2 and "exists and is public" in res.stderr and "--make-private" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and len(repo.commits) == commits and repo.private is False
    ok = run_cli(["publish", "kaokore", "--private", "--make-private", *common], env)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert repo.private is True


def test_gating_is_set_before_the_data_and_kept_on_no_change(hub, http_server, tmp_path):
    server, env = hub
    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    args = ["publish", "metfaces", "--config", "urls", "--mode", "urls", "--source", str(src), "--to", "hf://datasets/artface/m"]
    assert run_cli(args, env).returncode == 0
    writes = [(r["method"], r["path"]) for r in server.log if "/settings" in r["path"] or "/commit/" in r["path"]]
    assert writes[0][1].endswith("/settings") and any("/commit/" in p for _, p in writes), writes
    repo = server.repos["artface/m"]
    assert repo.gated == "auto"
    repo.gated = False  # someone switched gating off; a re-publish with no change restores it
    commits = len(repo.commits)
    again = run_cli(args, env)
    assert again.returncode == 0 and "no change" in again.stdout and len(repo.commits) == commits
    assert repo.gated == "auto"


def test_a_config_with_no_rows_is_refused(http_server, tmp_path):
    gone = http_server.add("/gone.jpg", kind="status", status=404)
    root = tmp_path / "src"
    root.mkdir()
    (root / "urls.txt").write_text(f"{gone}\n")
    (root / "labels.csv").write_text("image,gender,status,set\n00000000.jpg,0,0,train\n")
    (root / "original_tags.txt").write_text("")
    from artface.publish import PublishEmpty

    with pytest.raises(PublishEmpty, match=r"no rows to publish: all 1 records failed \(\{'http_404': 1\}\)"):
        publish("kaokore", "original", "processed", private=True, to=str(tmp_path / "out"), source=str(root),
                cache_dir=str(tmp_path / "hf"))
    assert not (tmp_path / "out").exists()
    build = subprocess.run([sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "original", "--source", str(root),
                            "--out", str(tmp_path / "b"), "--cache-dir", str(tmp_path / "hf2")],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 1 and "0 written, 1 failed" in build.stdout and "permanent (http_404)" in build.stdout


def test_folder_publish_swaps_the_whole_repo_at_once_and_cleans_crash_leftovers(tmp_path):
    from artface.publish import exchange_dirs

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_text("a"), (b / "x").write_text("b")
    assert exchange_dirs(a, b) and (a / "x").read_text() == "b" and (b / "x").read_text() == "a"
    dest = tmp_path / "hub" / "k"
    kw = dict(to=str(dest), source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    publish("kaokore", "urls", "urls", **kw)
    inode = dest.stat().st_ino
    leftover = tmp_path / "hub" / ".k.artface-new"  # a publish killed while making the new tree
    (leftover / "data").mkdir(parents=True)
    (leftover / "data" / "train-00000-of-00001.parquet").write_bytes(b"half written")
    res = publish("kaokore", "urls", "urls", max_shard_size="5KB", **kw)
    assert res.changed and dest.stat().st_ino != inode, "a new tree swapped in, not files changed in place"
    assert not leftover.exists() and validate(str(dest)) == []
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == ["k"]
    again = publish("kaokore", "urls", "urls", max_shard_size="5KB", **kw)
    assert again.changed is False and validate(str(dest)) == []
