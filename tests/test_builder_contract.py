"""The builder contract, for every registered dataset and config (in the spirit of TFDS's
``DatasetBuilderTestCase``): it builds from its folder's fixtures (``contract_source`` in the
dataset's test module) into the split sizes declared beside it (``CONTRACT_SPLITS``), no id is in
two splits, streaming gives the Arrow rows, ``urls`` fetches no pixels, no public column holds a
local path, ``file:``, zip member or ``hf://`` string, the report adds up, and a finished build is
an artifact: a second build, an export and a publish make no HTTP request, plain
``datasets.load_dataset(<build folder>)`` reads it, and spelling a default names the same folder."""
from __future__ import annotations

import hashlib
import importlib
import json

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest

from artface.build import Build
from artface.builders import builder_class, load_builder, names
from artface.export import export
from artface.licenses import PublishRefused
from artface.publish import publish
from artface.locations import public_url

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".tif")
CASES = [(name, cfg.name) for name in names() for cfg in builder_class(name).BUILDER_CONFIGS]
PIXEL_OPTS = dict(size=64, max_records=5, fetch_timeout=2.0, fetch_retries=0, concurrency=4)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _plain(row: dict) -> dict:
    """Row values with images as arrays and floats as float32 (streamed rows are not cast)."""
    out = {}
    for k, v in row.items():
        if hasattr(v, "size") and hasattr(v, "mode"):
            out[k] = [list(v.size), hashlib.sha256(np.asarray(v).tobytes()).hexdigest()]
        else:
            out[k] = np.asarray(v, dtype=np.float32).tolist() if isinstance(v, float) else v
    return out


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-4 * max(1.0, abs(a))
    return a == b


def card_claims_hold(dest, hub_config: str, build: Build) -> None:
    """Each card sentence that states a count, a sample, a source fact, where points come from or what
    a preview shows, checked against the published repo and the build it came from."""
    readme = (dest / "README.md").read_text()
    entry = json.loads((dest / "artface.json").read_text())["configs"][hub_config]
    shards = {s: pq.read_table(sorted((dest / hub_config).glob(f"{s}-*.parquet"))).to_pylist() for s in entry["splits"]}
    assert {s: len(r) for s, r in shards.items()} == entry["splits"], "rows per split as published"
    rows = [r for rs in shards.values() for r in rs]
    row = next(ln for ln in readme.splitlines() if ln.startswith(f"| `{hub_config}`") and "**" in ln)
    assert ", ".join(f"{s}: {n:,}" for s, n in entry["splits"].items()) in row
    assert f"- `{hub_config}`: " in readme and f"; {len(rows):,} rows" in readme
    prov = build.provenance
    assert ("a sample" in row) == bool(prov.get("sample")) and ("| whole |" in row) == (not prov.get("sample")), row
    for k, v in (prov.get("source_facts") or {}).items():
        assert f"{k}: {v}" in row, (k, v, row)
    if "dataset_version" in (rows[0] if rows else {}):
        assert prov["source_facts"]["KaoKore version"] == "v" + next(iter({r["dataset_version"] for r in rows}))
    if "movement" in (rows[0] if rows else {}) and prov.get("source_facts"):
        assert prov["source_facts"]["movements"].startswith(f"{len({r['movement'] for r in rows if r['movement'] >= 0})} of ")
    built_row = next(ln for ln in readme.splitlines() if ln.startswith(f"| `{hub_config}` | artface "))
    sources = {r.get("landmarks_source") for r in rows} - {None, "crop"}
    detectors = sources - {"upstream"}
    assert all(d.split(" ")[0] in built_row for d in detectors) and (not detectors or "upstream landmarks" not in built_row), \
        (sources, built_row)
    if entry["mode"] == "urls" and entry["kind"] in ("original", "aligned"):  # how to get this config's pixels back
        dataset = json.loads((dest / "artface.json").read_text())["dataset"]
        assert f"`artface build {dataset} --config {entry['builder_config']}`" in readme
    preview = entry.get("preview")
    if preview:
        assert (dest / preview).is_file() and f"]({preview})" in readme
        assert ("faces with their landmarks" in readme) == entry["preview_points"]
        assert not entry["preview_points"] or any(r.get("kps5_aligned") or r.get("landmarks68_aligned")
                                                  or r.get("kps5") or r.get("landmarks68") for r in rows)


@pytest.mark.parametrize("name,config", CASES)
def test_builder_contract(name, config, http_server, tmp_path):
    module = importlib.import_module(f"artface.builders.{name}.test_builder")
    options = module.contract_source(tmp_path / "src", http_server, config)
    kind = next(c.kind for c in builder_class(name).BUILDER_CONFIGS if c.name == config)
    extra = PIXEL_OPTS if kind != "urls" else {}  # detect fetches pixels too (and keeps none)
    b = load_builder(name, config, cache_dir=str(tmp_path / "hf"), **options, **extra)
    assert b.info.features is not None and "id" in b.info.features
    assert ("image" in b.info.features) == (kind in ("original", "aligned")), "pixels only in pixel configs"
    build = b.build().build
    built = build.datasets()

    # the declared split sizes (records per split, failures included), and no id in two splits
    rep = build.report
    assert {s: v["total"] for s, v in rep["splits"].items()} == module.CONTRACT_SPLITS[config]
    ids = [i for d in built.values() for i in d["id"]]
    assert len(ids) == len(set(ids)), "an id in two splits (or twice in one)"

    # the report adds up, and matches the rows
    assert rep["total"] == rep["written"] + rep["failed"] + rep["pending"] and rep["pending"] == 0
    assert rep["written"] == sum(len(d) for d in built.values()) > 0
    assert sum(s["total"] for s in rep["splits"].values()) == rep["total"]
    assert sum(rep["failed_by_reason"].values()) == rep["failed"] == len(rep["failures"])

    # urls configs fetch no pixels
    if kind == "urls":
        fetched = [p for _, p in http_server.log if p.lower().endswith(IMAGE_EXT)]
        assert not fetched, f"{name}/{config} fetched pixels: {fetched[:3]}"

    # nothing of this machine in a public column
    local = str(tmp_path)
    for split, ds in built.items():
        for row in ds.cast_column("image", datasets.Image(decode=False)) if "image" in ds.features else ds:
            for col in ("image_url", "source_url"):
                assert row[col] is None or public_url(row[col]) == row[col], (col, row[col])
            for s in _strings(row):
                assert local not in s and not s.startswith(("file:", "hf://", "/")) and "::" not in s, (split, s[:200])

    # a finished build is an artifact: read again, exported and published with no request
    asked = len(http_server.log)
    again = load_builder(name, config, cache_dir=str(tmp_path / "hf2"), **options, **extra).build()
    assert not again.redone and again.build.folder == build.folder
    export(Build.find(load_builder(name, config, **options, **extra)), "parquet", tmp_path / "export")
    policy = builder_class(name).POLICY
    if "urls" in policy.public_modes:
        if all(u for d in built.values() for u in d["image_url"]):
            res = publish(name, config, "urls", to=str(tmp_path / "pub"), **options, **extra)
            card_claims_hold(tmp_path / "pub", res.config, build)
        else:  # URL-only means URLs: rows that name no image are refused (e.g. crops from a release zip)
            with pytest.raises(PublishRefused, match="no public http"):
                publish(name, config, "urls", to=str(tmp_path / "pub"), **options, **extra)
    if kind in ("original", "aligned") and "pixels" in policy.public_modes + policy.private_modes:
        private = "pixels" not in policy.public_modes
        res = publish(name, config, "pixels", to=str(tmp_path / "pub"), private=private, **options, **extra)
        card_claims_hold(tmp_path / "pub", res.config, build)
    assert len(http_server.log) == asked, f"{name}/{config}: readers made requests: {http_server.log[asked:][:3]}"
    plain = datasets.load_dataset(str(build.folder))
    assert {s: len(d) for s, d in plain.items()} == {s: len(d) for s, d in built.items()}

    # spelling a default (the config's own values) names the same folder
    registered = builder_class(name).builder_configs[config]
    spelt = {k: getattr(registered, k) for k in ("image_format", "warp", "respect_optout")}
    assert load_builder(name, config, **options, **extra, **spelt).default_output_dir() == build.folder

    # streaming gives the same rows
    streamed = load_builder(name, config, cache_dir=str(tmp_path / "hf-s"), **options, **extra).as_streaming_dataset()
    assert set(streamed) == set(built)
    for split in built:
        a = [_plain(r) for r in built[split]]
        s = [_plain(r) for r in streamed[split]]
        assert [r["id"] for r in a] == [r["id"] for r in s]
        assert all(_close(x, y) for x, y in zip(a, s)), f"{name}/{config}/{split}: streamed rows differ"
