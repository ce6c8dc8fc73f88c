"""Publishing: folder and Hub destinations, license refusals, idempotence, interrupted pushes,
and the round trip through plain `datasets` (no artface imported) in a fresh process."""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
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
    assert table["kaokore"].public_modes == ("urls",) and table["metfaces"].public_modes == ("urls", "pixels")
    assert table["metfaces"].gated and table["metfaces"].hub_license == "cc-by-nc-2.0"


def test_refusals_say_why_and_what_is_allowed(tmp_path):
    with pytest.raises(PublishRefused, match=r"upstream intentionally ships no image data.*Allowed: public urls, private pixels"):
        publish("kaokore", "original", "pixels", to=str(tmp_path / "k"), source=str(KAOKORE_FIXTURES))
    assert not (tmp_path / "k").exists(), "refused before any work"
    check_publish(policy_table()["kaokore"], "pixels", private=True)  # explicitly private: allowed


def test_kaokore_urls_round_trip_through_plain_datasets(tmp_path):
    dest = tmp_path / "hub" / "kaokore"
    res = publish("kaokore", "urls", "urls", to=str(dest), source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    assert res.changed and res.rows == {"train": 32, "validation": 2, "test": 4}
    assert (dest / "urls" / "train-00000-of-00001.parquet").is_file()
    assert validate(str(dest)) == []
    card = (dest / "README.md").read_text()
    assert "license: cc-by-sa-4.0" in card and "No image data is included" in card and "doi:10.20676/00000353" in card
    b = load_builder("kaokore", "urls", source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    b.download_and_prepare()
    got = read_with_plain_datasets(str(dest), "validation", cwd=tmp_path)
    dropped = json.loads((dest / "artface.json").read_text())["configs"]["urls"]["dropped_columns"]
    assert dropped == ["width", "height", "bbox", "det_score", "kps5", "landmarks68", "landmarks_source", "eye_distance",
                       "face_size", "yaw", "roll", "blur"], "null in every row: not published"
    assert "Not published in `urls`, being empty in every row" in card
    want = {k: v for k, v in b.info.features.to_dict().items() if k not in dropped}
    assert got["features"] == want and list(got["features"])[0] == "image_url", "URL-only shards lead with the URL"
    built = [{k: v for k, v in r.items() if k not in dropped} for r in builder_rows(b, "validation")]
    assert close(got["rows"], built) and close(got["streaming"], got["rows"])
    # features travel in the parquet schema metadata: ClassLabels survive without the README
    (dest / "README.md").unlink()
    bare = read_with_plain_datasets(str(dest / "urls"), "train", cwd=tmp_path)
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
    res = publish("metfaces", "aligned", "pixels", to=str(dest), size=64, **kw)
    assert res.config == "aligned" and res.rows == {"train": 4}
    assert validate(str(dest)) == []
    meta = json.loads((dest / "artface.json").read_text())
    assert meta["default"] == "aligned" and set(meta["configs"]) == {"urls", "aligned"}, "the repo opens on its pixels"
    card = (dest / "README.md").read_text()
    assert "license: cc-by-nc-2.0" in card and "assets/aligned-preview.png" in card
    assert "extra_gated_prompt" not in card, "a folder is not gated: the card does not claim it"
    assert not (dest / "assets" / "urls-preview.png").exists(), "no blank-canvas preview for URL-only data"
    charts = sorted(p.name for p in (dest / "assets").glob("aligned-*.png") if p.name != "aligned-preview.png")
    assert "aligned-quality.png" in charts and all(f"(assets/{c})" in card for c in charts), "pixel configs: charts in the card"
    assert not list((dest / "assets").glob("urls-*")), "URL-only configs stay image-free"
    assert meta["configs"]["aligned"]["build"]["detector"] is None  # upstream landmarks
    assert (dest / "aligned" / "train-00000-of-00001.parquet").is_file() and (dest / "assets" / "aligned-preview.png").is_file()
    pf = pq.ParquetFile(dest / "aligned" / "train-00000-of-00001.parquet")
    assert b"huggingface" in pf.schema_arrow.metadata  # features in the schema
    got = read_with_plain_datasets(str(dest), "train", config="aligned", cwd=tmp_path)
    b = load_builder("metfaces", "aligned", size=64, **kw)
    b.download_and_prepare()
    built = list(b.as_dataset(split="train"))
    assert [r["id"] for r in got["rows"]] == [r["id"] for r in built]
    for g, r in zip(got["rows"], built):
        assert g["image"] == [64, 64, int(np.asarray(r["image"]).sum())]
    assert got["streaming"] == got["rows"] or close(got["streaming"], got["rows"])
    urls = read_with_plain_datasets(str(dest), "train", config="urls", cwd=tmp_path)
    assert "image" not in urls["features"] and len(urls["rows"]) == 4


def test_url_only_mode_of_a_pixel_config_keeps_landmarks_not_pixels(http_server, tmp_path):
    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    dest = tmp_path / "hub" / "m"
    res = publish("metfaces", "aligned", "urls", to=str(dest), source=str(src), size=64, cache_dir=str(tmp_path / "hf"))
    assert res.config == "aligned-urls"
    schema = pq.read_schema(dest / "aligned-urls" / "train-00000-of-00001.parquet")
    assert "image" not in schema.names and str(schema.field("image_url").type) == "string"


def test_validate_finds_problems(tmp_path):
    dest = tmp_path / "k"
    publish("kaokore", "urls", "urls", to=str(dest), source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    card = (dest / "README.md").read_text()
    (dest / "README.md").write_text(card.replace("license: cc-by-sa-4.0", "license: cc-by-sa-2.0"))
    assert any("cc-by-sa-2.0" in p for p in validate(str(dest)))
    (dest / "README.md").write_text(card)
    (dest / "urls" / "test-00000-of-00001.parquet").unlink()
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
    first = run_cli(["publish", "metfaces", "--config", "aligned", "--mode", "pixels", "--set", "size=64", *common], env)
    assert first.returncode == 0, first.stderr[-3000:]
    repo = server.repos["artface/metfaces"]
    assert repo.gated == "auto" and len(repo.commits) == 2
    head, files = repo.head
    assert files["aligned/train-00000-of-00001.parquet"].lfs and "README.md" in files
    # load through the same server, no artface, streaming too
    reader_env = {k: v for k, v in env.items() if k != "HF_TOKEN"}
    got = read_with_plain_datasets("artface/metfaces", "train", env=env | {"HF_DATASETS_CACHE": str(tmp_path / "dc")}, cwd=tmp_path)
    assert len(got["rows"]) == 4 and got["rows"][0]["image"][:2] == [64, 64]
    assert close(got["streaming"], got["rows"])
    checked = run_cli(["validate", "hf://datasets/artface/metfaces"], env)
    assert checked.returncode == 0 and "OK" in checked.stdout, checked.stdout + checked.stderr
    # the same content again: no new commit
    again = run_cli(["publish", "metfaces", "--config", "aligned", "--mode", "pixels", "--set", "size=64", *common], env)
    assert again.returncode == 0 and "no change" in again.stdout and len(repo.commits) == 2
    # a publish that fails at commit time leaves the previous revision intact
    server.fail_next_commit = True
    broken = run_cli(["publish", "metfaces", "--config", "aligned", "--mode", "pixels", "--set", "size=32", *common], env)
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


def test_hub_refuses_public_pixels_kaokore(hub, tmp_path):
    server, env = hub
    res = run_cli(["publish", "kaokore", "--config", "original", "--mode", "pixels", "--source", str(KAOKORE_FIXTURES),
                   "--to", "hf://datasets/artface/kaokore"], env)
    assert res.returncode == 2 and "refused" in res.stderr and "Allowed: public urls" in res.stderr
    assert "artface/kaokore" not in server.repos


def test_republish_with_other_sharding_leaves_no_stale_shards(tmp_path):
    dest = tmp_path / "k"
    kw = dict(to=str(dest), source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    publish("kaokore", "urls", "urls", max_shard_size="5KB", **kw)
    n = len(list((dest / "urls").glob("train-*")))
    assert n > 1 and n % 8 == 0  # small shards, in a count that divides by 8
    publish("kaokore", "urls", "urls", **kw)
    assert [p.name for p in (dest / "urls").glob("train-*")] == ["train-00000-of-00001.parquet"]
    assert validate(str(dest)) == []
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
        publish("kaokore", "original", "pixels", private=True, to=str(tmp_path / "out"), source=str(root),
                cache_dir=str(tmp_path / "hf"))
    assert not (tmp_path / "out").exists()
    build = subprocess.run([sys.executable, "-m", "artface.cli", "build", "kaokore", "--config", "original", "--source", str(root),
                            "--out", str(tmp_path / "b"), "--cache-dir", str(tmp_path / "hf2")],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 1 and "0 written, 1 failed" in build.stdout and "permanent (http_404)" in build.stdout


def test_folder_publish_swaps_the_whole_repo_at_once_and_cleans_crash_leftovers(tmp_path):
    from artface.swap import exchange_dirs

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


def test_validate_works_on_relative_paths_and_reads_the_card_as_the_hub_does(tmp_path, monkeypatch):
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    dest = tmp_path / "artface-hub" / "kaokore"
    publish("kaokore", "urls", "urls", to=str(dest), source=str(KAOKORE_FIXTURES), cache_dir=str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    res = subprocess.run([sys.executable, "-m", "artface.cli", "validate", "./artface-hub/kaokore"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    card = DatasetCard.load(dest / "README.md")
    meta = card.data.to_dict()
    assert meta["language"] == ["ja", "en"] and meta["size_categories"] == ["n<1K"]
    assert set(meta["task_categories"]) == {"image-classification", "unconditional-image-generation"}
    assert meta["source_datasets"] and meta["annotations_creators"] == ["expert-generated"] and meta["pretty_name"] == "KaoKore"
    assert "extra_gated_prompt" not in meta
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    configs = MetadataConfigs.from_dataset_card_data(card.data)
    assert set(configs) == {"urls"} and configs["urls"]["default"] is True
    info = infos["urls"]
    assert info.download_size == sum(p.stat().st_size for p in (dest / "urls").glob("*.parquet")) > 0
    assert info.dataset_size == sum(s.num_bytes for s in info.splits.values()) > 0
    assert "bbox" not in info.features and "timeseries" not in card.text
    assert not any(isinstance(f, __import__("datasets").List) and isinstance(f.feature, __import__("datasets").Value)
                   and f.feature.dtype.startswith("float") and "emb" not in n for n, f in info.features.items()), \
        "no top-level float list: the Hub would label the dataset timeseries"
    body = card.text
    for section in ("## What this repository holds", "## Configs", "## How to load", "## Fields", "## Splits",
                    "## How it was built", "## Uses", "## Biases", "## License and attribution", "## Papers", "## Citation"):
        assert section in body, section
    assert "https://arxiv.org/abs/2002.08595" in body and 'load_dataset("<your-org>/kaokore", "urls"' in body
    assert "streaming=True" in body and "img2dataset" in body and "**No image data is included.**" in body
    assert str(tmp_path) not in card.content


def test_pixels_card_says_pixels_and_a_sample(http_server, tmp_path):
    from huggingface_hub import DatasetCard

    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    dest = tmp_path / "m"
    res = publish("metfaces", "aligned", "pixels", to=str(dest), source=str(src), size=64, max_records=2,
                  cache_dir=str(tmp_path / "hf"))
    card = DatasetCard.load(dest / "README.md")
    assert res.rows == {"train": 2}
    assert "`aligned`: **pixels**: 64 px aligned faces (png); 2 rows, a sample of 4 records (max_records=2)." in card.text
    assert "No image data is included" not in card.text and "assets/aligned-preview.png" in card.text
    assert "| a sample of 4 records (max_records=2) |" in card.text
    assert "The MetFaces recipe (FFHQ, transform at 4x the output size) from the JSON landmarks." in card.text
    assert card.data.to_dict()["task_categories"] == ["unconditional-image-generation", "keypoint-detection"]


def test_old_mode_word_processed_is_read_as_pixels(http_server, tmp_path, capsys):
    """`processed` (the old word for `pixels`) still works for one release: the API warns, the CLI
    notes the new word, a policy and a repo's stored artface.json written with it read as `pixels`."""
    import json

    from artface.cli import main
    from artface.licenses import LicensePolicy, check_publish

    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    dest = tmp_path / "m"
    with pytest.warns(DeprecationWarning, match="'processed' is now 'pixels'"):
        res = publish("metfaces", "aligned", "processed", to=str(dest), source=str(src), size=64, cache_dir=str(tmp_path / "hf"))
    meta = json.loads((dest / "artface.json").read_text())
    assert res.rows == {"train": 4} and meta["configs"]["aligned"]["mode"] == "pixels"
    meta["configs"]["aligned"]["mode"] = "processed"  # as an older artface stored it
    (dest / "artface.json").write_text(json.dumps(meta))
    assert main(["publish", "metfaces", "--config", "urls", "--source", str(src), "--to", str(dest)]) == 0
    meta = json.loads((dest / "artface.json").read_text())
    assert {n: e["mode"] for n, e in meta["configs"].items()} == {"aligned": "pixels", "urls": "urls"}
    assert meta["default"] == "aligned", "the repo still opens on its pixel config"
    assert "`aligned`: **pixels**" in (dest / "README.md").read_text()
    capsys.readouterr()
    assert main(["publish", "metfaces", "--config", "aligned", "--mode", "processed", "--set", "size=64",
                 "--source", str(src), "--to", str(dest)]) == 0
    assert "note: --mode processed is now --mode pixels" in capsys.readouterr().err
    old = LicensePolicy(dataset="x", hub_license="cc0-1.0", public_modes=("urls", "processed"), reason="r", source="s",
                        attribution="a")
    assert old.public_modes == ("urls", "pixels")
    check_publish(old, "pixels", private=False)
    with pytest.raises(ValueError, match="publish mode must be one of urls, pixels, got 'png'"):
        check_publish(old, "png", private=False)


def test_dry_run_writes_nothing(tmp_path, capsys):
    from artface.cli import main

    dest = tmp_path / "never"
    assert main(["publish", "kaokore", "--config", "urls", "--source", str(KAOKORE_FIXTURES), "--to", str(dest), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "urls/train-00000-of-00001.parquet" in out and "license: cc-by-sa-4.0" in out
    assert "urls: rows none -> 38 [train 32, validation 2, test 4] (whole); bytes 0 -> " in out
    assert re.search(r"^  \d+ added: README.md, artface.json, urls/test-", out, re.M) and "  0 removed" in out
    assert not dest.exists()


def test_hub_pull_request_branch_and_message(hub, tmp_path):
    server, env = hub
    common = ["--config", "urls", "--source", str(KAOKORE_FIXTURES), "--to", "hf://datasets/artface/kpr"]
    first = run_cli(["publish", "kaokore", *common, "--commit-message", "first import"], env)
    assert first.returncode == 0, first.stderr[-2000:]
    repo = server.repos["artface/kpr"]
    assert repo.commits[-1][2] == "first import" and f"commit: {server.url}/datasets/artface/kpr/commit/" in first.stdout
    main_head = repo.head[0]
    pr = run_cli(["publish", "kaokore", *common, "--max-records", "2", "--create-pr"], env)
    assert pr.returncode == 2 and len(repo.prs) == 0, "a sample over the whole config needs --replace"
    assert "would replace the whole config 'urls' (38 rows) by a sample of 38 records (max_records=2) (6 rows)" in pr.stderr
    pr = run_cli(["publish", "kaokore", *common, "--max-records", "2", "--create-pr", "--replace"], env)
    assert pr.returncode == 0, pr.stderr[-2000:]
    assert repo.head[0] == main_head and len(repo.prs) == 1, "main untouched; the change is a pull request"
    assert f"pull request: {server.url}/datasets/artface/kpr/discussions/1" in pr.stdout
    br = run_cli(["publish", "kaokore", *common, "--max-records", "3", "--revision", "trial", "--replace"], env)
    assert br.returncode == 0, br.stderr[-2000:]
    assert repo.head[0] == main_head and "trial" in repo.branches and len(repo.branches["trial"]) == 2


def test_publish_reuses_a_finished_build_with_the_same_options(http_server, tmp_path):
    from artface.builders.kaokore.test_builder import serve_kaokore

    src = serve_kaokore(http_server, bad={})
    opts = ["--config", "aligned", "--source", src, "--set", "size=64", "--max-records", "3"]
    build = subprocess.run([sys.executable, "-m", "artface.cli", "build", "kaokore", *opts], capture_output=True, text=True,
                           timeout=300, env=dict(os.environ))
    assert build.returncode == 0, build.stderr[-2000:]
    out = Path(build.stdout.split("output: ", 1)[1].split()[0])
    arrows = {p: p.stat().st_mtime_ns for p in out.rglob("*.arrow")}
    images_fetched = sum(1 for _, p in http_server.log if p.endswith("default.jpg"))
    dest = tmp_path / "pub"
    pub = subprocess.run([sys.executable, "-m", "artface.cli", "publish", "kaokore", *opts, "--mode", "pixels", "--private",
                          "--to", str(dest)], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert pub.returncode == 0, pub.stderr[-2000:]
    assert arrows and {p: p.stat().st_mtime_ns for p in out.rglob("*.arrow")} == arrows, "the finished build was reused"
    assert sum(1 for _, p in http_server.log if p.endswith("default.jpg")) == images_fetched
    other = subprocess.run([sys.executable, "-m", "artface.cli", "build", "kaokore", *opts[:-4], "--set", "size=32",
                            "--max-records", "3"], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert other.returncode == 0 and other.stdout.split("output: ", 1)[1].split()[0] != str(out), "other options, other folder"


def test_card_shows_quality_percentiles(http_server, tmp_path):
    src = make_source(tmp_path, http_server, local=(0, 1, 2, 3), bad_md5=())
    dest = tmp_path / "q"
    publish("metfaces", "aligned", "pixels", to=str(dest), source=str(src), size=64, cache_dir=str(tmp_path / "hf"))
    card = (dest / "README.md").read_text()
    entry = json.loads((dest / "artface.json").read_text())["configs"]["aligned"]
    assert set(entry["quality"]) == {"eye_distance", "face_size", "yaw", "roll", "blur"}, "no det_score: upstream points"
    p5, p50, p95 = entry["quality"]["eye_distance"]
    assert 0 < p5 <= p50 <= p95 and "## Face quality" in card and "`blur`" in card


def test_url_only_means_urls_and_hub_flags_need_the_hub(http_server, tmp_path):
    from artface.builders.wikiart_face.test_builder import contract_source as wikiart_source
    from artface.errors import ArtfaceError

    opts = wikiart_source(tmp_path / "src", http_server, "released")  # the release zip: crops, no image URLs
    with pytest.raises(PublishRefused, match=r"3 of 3 rows have no public http\(s\) image_url"):
        publish("wikiart_face", "released", "urls", to=str(tmp_path / "w"), **opts)
    assert not (tmp_path / "w").exists()
    for flag in (dict(create_pr=True), dict(revision="dev"), dict(commit_message="x")):
        with pytest.raises(ArtfaceError, match="only apply to a Hub destination"):
            publish("kaokore", "urls", "urls", to=str(tmp_path / "k"), source=str(KAOKORE_FIXTURES), **flag)
    bad = tmp_path / "bad"  # validate finds a URL-only shard whose rows name no image
    (bad / "data").mkdir(parents=True)
    publish("kaokore", "urls", "urls", to=str(bad), source=str(KAOKORE_FIXTURES))
    shard = next((bad / "urls").glob("*.parquet"))
    table = pq.read_table(shard)
    pq.write_table(table.set_column(table.column_names.index("image_url"), "image_url",
                                    pa.nulls(len(table), pa.string())), shard, write_page_index=True)
    assert any("rows have no image_url" in p for p in validate(str(bad)))


def test_card_sentences_follow_the_build(http_server, tmp_path):
    from artface.builders.all.test_builder import contract_source as union_source
    from artface.builders.aahq.test_builder import serve_aahq

    # a union of samples is not "whole"
    opts = union_source(tmp_path / "u", http_server, "urls")
    publish("all", "urls", "urls", to=str(tmp_path / "all"), max_records=2, **opts)
    card = (tmp_path / "all" / "README.md").read_text()
    row = next(ln for ln in card.splitlines() if ln.startswith("| `urls`"))
    assert "a sample (max_records=2 per split)" in row and "| whole |" not in row
    # AAHQ gives 4 points, not the 5 or 68 drawn on previews: the caption does not claim landmarks
    publish("aahq", "aligned", "pixels", to=str(tmp_path / "aahq"), private=True, source=serve_aahq(http_server, dead={}),
            size=64, max_records=2)
    aahq = (tmp_path / "aahq" / "README.md").read_text()
    assert "![faces (no landmarks to draw)" in aahq and "faces with their landmarks" not in aahq
    assert "This repository must stay private" in aahq, "pixels allowed only privately: the card says so"
    # MetFaces' preview draws its landmarks, and says so; a public publish has no private-only notice
    src = make_source(tmp_path, http_server, local=(0, 1), bad_md5=())
    publish("metfaces", "aligned", "pixels", to=str(tmp_path / "m"), source=str(src), size=64)
    m = (tmp_path / "m" / "README.md").read_text()
    assert "![faces with their landmarks" in m and "must stay private" not in m


def _head_meta(snapshot) -> dict:
    return json.loads(snapshot["artface.json"].data)


def test_hub_publish_reads_its_revision_retries_a_race_and_removes_stale_files(hub, http_server, tmp_path):
    """The branch's own artface.json, one commit on the head read (a race re-reads and re-commits),
    the config's stale files deleted, "no change" from the commit result, validate --revision."""
    from artface.builders.kaokore.test_builder import FAST, serve_kaokore

    server, env = hub
    src = serve_kaokore(http_server, bad={})
    to = ["--source", src, "--to", "hf://datasets/artface/race", *[a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]]
    assert run_cli(["publish", "kaokore", "--config", "urls", *to], env).returncode == 0
    repo = server.repos["artface/race"]
    # a branch keeps what was published on it: its second publish reads the branch, not main
    dev = run_cli(["publish", "kaokore", "--config", "original", "--mode", "urls", *to, "--revision", "dev"], env)
    assert dev.returncode == 0, dev.stderr[-2000:]
    dev2 = run_cli(["publish", "kaokore", "--config", "urls", *to, "--revision", "dev", "--max-shard-size", "5KB"], env)
    assert dev2.returncode == 0, dev2.stderr[-2000:]
    dev_files = repo.branches["dev"][-1][1]
    assert set(_head_meta(dev_files)["configs"]) == {"urls", "original-urls"}
    assert "`original-urls`" in dev_files["README.md"].data.decode()
    assert set(_head_meta(repo.head[1])["configs"]) == {"urls"}, "main untouched by the branch"
    checked = run_cli(["validate", "hf://datasets/artface/race", "--revision", "dev"], env)
    assert checked.returncode == 0 and "OK" in checked.stdout, checked.stdout + checked.stderr
    # a race on main: another publish commits between this publish's read and its commit
    racer = ["publish", "kaokore", "--config", "original", "--mode", "urls", *to]
    raced: list = []
    server.before_next_commit = lambda: raced.append(run_cli(racer, env))
    commits_before = len(repo.commits)
    mine = run_cli(["publish", "kaokore", "--config", "urls", *to, "--max-shard-size", "5KB"], env)
    assert mine.returncode == 0 and raced and raced[0].returncode == 0, mine.stderr[-2000:] + raced[0].stderr[-2000:]
    assert len(repo.commits) == commits_before + 2, "the racer's commit, then this one on top of it"
    files = repo.head[1]
    assert set(_head_meta(files)["configs"]) == {"urls", "original-urls"}, "the retry re-read the racer's entry"
    shards = sorted(p for p in files if p.startswith("urls/"))
    assert len(shards) > 1 and all(p.endswith(f"-of-{len([s for s in shards if 'train' in s]):05d}.parquet")
                                   for p in shards if "/train-" in p), shards
    assert "urls/train-00000-of-00001.parquet" not in files, "the stale shard was deleted in the same commit"
    # the same content again: huggingface_hub skips every file and the head does not move
    head = repo.head[0]
    again = run_cli(["publish", "kaokore", "--config", "urls", *to, "--max-shard-size", "5KB"], env)
    assert again.returncode == 0 and "no change" in again.stdout and repo.head[0] == head
    # a dry run shows rows, bytes and files per config against the revision, and what needs --replace
    dry = run_cli(["publish", "kaokore", "--config", "urls", *to, "--max-records", "2", "--dry-run"], env)
    assert dry.returncode == 0 and repo.head[0] == head, dry.stderr[-2000:]
    line = next(ln for ln in dry.stdout.splitlines() if ln.startswith("urls: rows "))
    n = sum(_head_meta(files)["configs"]["urls"]["splits"].values())
    assert f"rows {n:,} [" in line and "(whole) -> 6 [" in line and "bytes " in line, line
    assert re.search(r"^  \d+ removed: urls/train-", dry.stdout, re.M) and "needs --replace" in dry.stdout
    both = run_cli(["publish", "kaokore", "--config", "urls", *to, "--create-pr", "--revision", "dev"], env)
    assert both.returncode != 0 and len(both.stderr.strip().splitlines()) == 1 and "--create-pr" in both.stderr
