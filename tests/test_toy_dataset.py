"""Adding a dataset touches only its folder: a toy dataset folder on ``$ARTFACE_BUILDERS_PATH`` is
listed, described, built (URL-only and with pixels from a real local server), published and
validated by the CLI, with no line of artface changed."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from artface.testing.images import astronaut_face_crop

BUILDER = '''
"""Toy faces: a CSV of image URLs with a mood label."""
from __future__ import annotations

import csv
import io

import datasets

from artface import locations
from artface.builders._base import ArtfaceBuilder, ArtfaceConfig
from artface.licenses import LicensePolicy
from artface.records import Record
from artface.sources import MetadataError, SourceSpec


class ToyFaces(ArtfaceBuilder):
    BUILDER_CONFIGS = [ArtfaceConfig(name="urls", kind="urls", description="URLs and moods."),
                       ArtfaceConfig(name="original", kind="original", description="The images as served.")]
    DEFAULT_CONFIG_NAME = "urls"
    PRETTY_NAME = "Toy faces"
    HOMEPAGE = "https://example.org/toy"
    SOURCE = SourceSpec(files=("faces.csv",), hint="a folder with faces.csv")
    SKIP_REASONS = {"toy_blank_row": "a row of faces.csv with no URL"}
    POLICY = LicensePolicy(dataset="toyfaces", hub_license="cc0-1.0", public_modes=("urls", "pixels"),
                           reason="made for a test", source="this test", attribution="the test suite")

    def extra_features(self) -> dict:
        return {"mood": datasets.ClassLabel(names=["calm", "happy"])}

    def read_records(self):
        src = self.source()
        for n, row in enumerate(csv.DictReader(io.StringIO(src.read_text("faces.csv"))), start=2):
            if not row.get("url"):
                self.skipped["toy_blank_row"] += 1
                continue
            if row.get("mood") not in ("calm", "happy"):
                raise MetadataError(f"{src.where('faces.csv')} line {n}: unknown mood {row.get('mood')!r}")
            yield Record(id=row["id"], split="train", fetch=locations.url(row["url"]), image_url=row["url"],
                         source_url=row["url"], fields={"mood": ["calm", "happy"].index(row["mood"])},
                         captions=[f"a {row['mood']} toy face"])
'''

COMPOSITE = '''
"""Toy corpus: the toy faces as a composite (its members' builds, with a column of its own)."""
from __future__ import annotations

import datasets

from artface.builders._composite import CompositeBuilder, CompositeConfig
from artface.licenses import LicensePolicy


class ToyCorpus(CompositeBuilder):
    BUILDER_CONFIGS = [CompositeConfig(name="urls", kind="urls", description="The members' URL rows.")]
    DEFAULT_CONFIG_NAME = "urls"
    POLICY = LicensePolicy(dataset="toycorpus", hub_license="cc0-1.0", public_modes=("urls",),
                           reason="made for a test", source="this test", attribution="the test suite")

    @classmethod
    def member_names(cls):
        return ["toyfaces"]

    @classmethod
    def member_config(cls, member, config):
        return config.name

    def extra_features(self):
        return {"happy": datasets.Value("bool")}

    def member_columns(self, member_cls, row, member_features):
        return {"happy": member_features["mood"].int2str(row["mood"]) == "happy"}
'''

CARD = '''# Toy faces (artface)

Three toy faces with a mood label, for a test.

## Configs

$configs_table

## How it was built

$build_table

$failures

## License

$license. $access
'''


def run(args, env, cwd):
    res = subprocess.run([sys.executable, "-m", "artface.cli", *args], capture_output=True, text=True, env=env, cwd=cwd,
                         timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return res.stdout


def test_a_toy_dataset_folder_is_listed_built_and_published(http_server, tmp_path):
    folder = tmp_path / "extra" / "toyfaces"
    folder.mkdir(parents=True)
    (folder / "builder.py").write_text(BUILDER)
    (folder / "card.md").write_text(CARD)
    corpus = tmp_path / "extra" / "toycorpus"
    corpus.mkdir()
    (corpus / "builder.py").write_text(COMPOSITE)
    (corpus / "card.md").write_text(CARD.replace("Three toy faces with a mood label", "The toy faces as a corpus"))
    urls = [http_server.add(f"/toy/{i}.jpg", astronaut_face_crop(i)) for i in range(3)]
    src = tmp_path / "src"
    src.mkdir()
    (src / "faces.csv").write_text("id,url,mood\n" + "".join(f"t{i},{u},{'calm' if i % 2 else 'happy'}\n"
                                                             for i, u in enumerate(urls)) + "t9,,calm\n")
    env = {**os.environ, "ARTFACE_BUILDERS_PATH": str(tmp_path / "extra"), "ARTFACE_OUT": str(tmp_path / "out")}

    listed = run(["list"], env, tmp_path).splitlines()
    assert any(line.startswith("toyfaces ") for line in listed), listed
    at = {line.split()[0]: i for i, line in enumerate(listed) if line.strip()}
    assert max(at["toyfaces"], at["kaokore"]) < at["toycorpus"], "composites are listed after the datasets"
    info = run(["info", "toyfaces"], env, tmp_path)
    assert "Three toy faces with a mood label, for a test." in info, "the description is the card's first paragraph"

    built = run(["build", "toyfaces", "--config", "urls", "--source", str(src)], env, tmp_path)
    assert "3 written" in built, built
    report = json.loads(next((tmp_path / "out" / "toyfaces").glob("urls*/artface_report.json")).read_text())
    assert report["dataset"] == "toyfaces" and report["skipped"] == {"toy_blank_row": 1}
    pixels = run(["build", "toyfaces", "--config", "original", "--source", str(src)], env, tmp_path)
    assert "3 written" in pixels, pixels

    composed = run(["build", "toycorpus", "--set", f"sources=toyfaces={src}"], env, tmp_path)
    assert "members toyfaces" in composed, composed
    from artface.build import Build

    union = Build.open(next((tmp_path / "out" / "toycorpus").glob("urls*")))
    rows = union.dataset("toyfaces_train").to_list()
    assert union.report["skipped"] == {} and union.report["members"]["toyfaces"]["written"] == 3
    assert [(r["id"], r["member_id"], r["happy"]) for r in rows] == [("toyfaces/t0", "t0", True),
                                                                      ("toyfaces/t1", "t1", False),
                                                                      ("toyfaces/t2", "t2", True)]
    assert union.meta["members"] == {"toyfaces": Build.open(next((tmp_path / "out" / "toyfaces").glob("urls*"))).meta["build_id"]}

    dest = tmp_path / "hub" / "toyfaces"
    run(["publish", "toyfaces", "--config", "original", "--mode", "pixels", "--source", str(src), "--to", str(dest)],
        env, tmp_path)
    run(["publish", "toyfaces", "--config", "urls", "--source", str(src), "--to", str(dest)], env, tmp_path)
    assert "OK" in run(["validate", str(dest)], env, tmp_path)
    card = (dest / "README.md").read_text()
    assert "Three toy faces" in card and "| `original` (default) |" in card and "| `urls` |" in card
    meta = json.loads((dest / "artface.json").read_text())
    assert meta["dataset"] == "toyfaces" and set(meta["configs"]) == {"original", "urls"}
    assert meta["configs"]["original"]["splits"] == {"train": 3}


def test_pinned_upstream_files_are_checked_and_named_in_the_report(http_server, tmp_path):
    """A dataset folder's checksums.tsv (url, size, sha256): a build reads the pinned file and names it in
    its report; a changed upstream stops the build in one line, unless accept_upstream_change=true."""
    import hashlib

    folder = tmp_path / "extra" / "toyfaces"
    folder.mkdir(parents=True)
    (folder / "builder.py").write_text(BUILDER)
    (folder / "card.md").write_text(CARD)
    url = http_server.add("/toy/0.jpg", astronaut_face_crop(0))
    body = f"id,url,mood\nt0,{url},calm\n".encode()
    meta = http_server.add("/toysrc/faces.csv", body)
    (folder / "checksums.tsv").write_text(f"# pinned for the test\n{meta}\t{len(body)}\t{hashlib.sha256(body).hexdigest()}\n")
    env = {**os.environ, "ARTFACE_BUILDERS_PATH": str(tmp_path / "extra"), "ARTFACE_OUT": str(tmp_path / "out")}
    source = ["--source", http_server.url + "/toysrc"]
    run(["build", "toyfaces", "--config", "urls", *source], env, tmp_path)
    report_path = next((tmp_path / "out" / "toyfaces").glob("urls*/artface_report.json"))
    files = json.loads(report_path.read_text())["upstream_files"]
    assert files == [{"file": meta, "size": len(body), "sha256": hashlib.sha256(body).hexdigest(), "pin": "pinned"}]

    changed = body + f"t1,{url},happy\n".encode()
    http_server.add("/toysrc/faces.csv", changed)
    res = subprocess.run([sys.executable, "-m", "artface.cli", "build", "toyfaces", "--config", "urls", *source, "--refresh"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert f"{meta} changed upstream since artface pinned it" in res.stderr and "accept_upstream_change=true" in res.stderr
    run(["build", "toyfaces", "--config", "urls", *source, "--refresh", "--set", "accept_upstream_change=true"], env, tmp_path)
    report = json.loads(report_path.read_text())
    assert report["written"] == 2 and report["upstream_files"][0]["pin"] == "changed"


def test_an_id_given_twice_stops_the_build_in_one_line(http_server, tmp_path):
    """Two records with one id would be one row's key for two images: the build stops, naming the id."""
    folder = tmp_path / "extra" / "toyfaces"
    folder.mkdir(parents=True)
    (folder / "builder.py").write_text(BUILDER)
    (folder / "card.md").write_text(CARD)
    url = http_server.add("/toy/0.jpg", astronaut_face_crop(0))
    src = tmp_path / "src"
    src.mkdir()
    rows = [f"t{i},{url},calm\n" for i in range(3000)]
    rows.insert(2500, f"t17,{url},happy\n")  # far from the first t17: not found by looking at neighbours
    (src / "faces.csv").write_text("id,url,mood\n" + "".join(rows))
    env = {**os.environ, "ARTFACE_BUILDERS_PATH": str(tmp_path / "extra"), "ARTFACE_OUT": str(tmp_path / "out")}
    res = subprocess.run([sys.executable, "-m", "artface.cli", "build", "toyfaces", "--config", "urls", "--source", str(src)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "toyfaces: duplicate record id 't17' in the metadata" in res.stderr
    (src / "faces.csv").write_text("id,url,mood\n" + "".join(rows[:2500] + rows[2501:]))
    assert "3000 written" in run(["build", "toyfaces", "--config", "urls", "--source", str(src)], env, tmp_path)
