"""Malformed third-party metadata: every parser's error names the file, the line or record, and
what is wrong (no bare UnicodeDecodeError, JSONDecodeError, AttributeError, IndexError, BadZipFile)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from artface.builders import load_builder
from artface.sources import MetadataError

KAOKORE = Path(__file__).resolve().parents[1] / "artface" / "builders" / "kaokore" / "fixtures"
POINTS68 = [[float(i), float(i)] for i in range(68)]


def metfaces_record(**over) -> dict:
    rec = {"obj_id": 1, "source_url": "https://images.metmuseum.org/a.jpg", "image_path": "images/00000-00.png",
           "face_spec": {"landmarks": POINTS68, "shrink": 1, "rect": [0, 0, 10, 10]}}
    rec.update(over)
    return rec


METFACES_CASES = [
    ('[{"obj_id": 1,\n  "source_url": }]', r"metfaces.json line 2 column 17: invalid JSON"),
    (json.dumps(["just a string"]), r"metfaces.json record 0: expected an object, got str"),
    (json.dumps([metfaces_record(face_spec={"landmarks": [[1.0]] * 68})]), r"record 0 \(images/00000-00.png\) face_spec.landmarks: point 0 must be two finite numbers"),
    (json.dumps([metfaces_record(face_spec={"landmarks": [["a", "b"]] * 68})]), r"point 0 must be two finite numbers"),
    (json.dumps([metfaces_record(face_spec={"landmarks": POINTS68[:5]})]), r"face_spec.landmarks: expected 68 points, got list of 5"),
    ('{"a": ' + json.dumps(metfaces_record()) + ', "a": ' + json.dumps(metfaces_record()) + "}", r"metfaces.json: duplicate key 'a'"),
    (json.dumps([metfaces_record(face_spec={"landmarks": POINTS68, "shrink": "big"})]), r"face_spec.shrink must be a positive number"),
]


@pytest.mark.parametrize("text,expect", METFACES_CASES)
def test_metfaces_json_errors_name_file_and_record(tmp_path, text, expect):
    (tmp_path / "metfaces.json").write_text(text)
    with pytest.raises(MetadataError, match=expect):
        load_builder("metfaces", "urls", source=str(tmp_path), cache_dir=str(tmp_path / "c")).records()


def test_aahq_duplicate_keys_and_bad_points(tmp_path):
    rec = {"image_url": "https://cdna.artstation.com/p/a.jpg", "landmarks": {p: [1, 2] for p in ("eye_left", "eye_right", "mouth_left", "mouth_right")}}
    (tmp_path / "AAHQ-dataset.json").write_text('{"x.png": ' + json.dumps(rec) + ', "x.png": ' + json.dumps(rec) + "}")
    with pytest.raises(MetadataError, match=r"AAHQ-dataset.json: duplicate key 'x.png'"):
        load_builder("aahq", "urls", source=str(tmp_path), cache_dir=str(tmp_path / "c")).records()
    rec["landmarks"]["eye_right"] = ["1", None]
    (tmp_path / "AAHQ-dataset.json").write_text(json.dumps({"x.png": rec}))
    with pytest.raises(MetadataError, match=r"record 'x.png' landmarks: point 1 must be two finite numbers"):
        load_builder("aahq", "urls", source=str(tmp_path), cache_dir=str(tmp_path / "d")).records()


def kaokore_copy(tmp_path: Path, **replace: bytes) -> Path:
    root = tmp_path / "k"
    root.mkdir()
    for name in ("urls.txt", "labels.csv", "original_tags.txt"):
        (root / name).write_bytes(replace.get(name.replace(".", "_"), (KAOKORE / name).read_bytes()))
    return root


@pytest.mark.parametrize("file,data,expect", [
    ("labels_csv", b"image,gender,status,set\n00000001.jpg,0,0,train\n00000002.jpg,1,\xff\xfe,dev\n", r"labels.csv line 3: not UTF-8"),
    ("labels_csv", b"image,gender,status,set\n00000001.jpg,0,0,train\n00000001.jpg,0,0,train\n", r"labels.csv line 3: image '00000001.jpg' is labelled twice"),
    ("labels_csv", b"image,gender,status,set\n00000001.jpg,male,0,train\n", r"labels.csv line 2: gender/status must be integers"),
    ("labels_csv", b"image,gender,status,set\n00000001.jpg,0,0,\"" + b"x" * (2 << 20) + b"\"\n", r"labels.csv line \d+: field larger than field limit"),
    ("original_tags_txt", b"00000001.jpg:a=b\nno colon here\n", r"original_tags.txt line 2: no ':' after the image name"),
    ("labels_csv", b"image,gender,status,set\n" + b"1" * 9000 + b".jpg,0,0,train\n", r"labels.csv names 1 image\(s\) not in urls.txt"),
])
def test_kaokore_errors_name_file_and_line(tmp_path, file, data, expect):
    root = kaokore_copy(tmp_path, **{file: data})
    with pytest.raises(MetadataError, match=expect):
        load_builder("kaokore", "urls", source=str(root), cache_dir=str(tmp_path / "c")).records()


def test_wikiart_corrupt_zip_and_parquet(tmp_path):
    (tmp_path / "image_face.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(MetadataError, match="image_face.zip: not a readable zip"):
        load_builder("wikiart_face", "released", source=str(tmp_path / "image_face.zip"), cache_dir=str(tmp_path / "c")).records()
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "x.parquet").write_bytes(b"PAR1 nope")
    with pytest.raises(MetadataError, match="x.parquet: not a readable parquet file"):
        load_builder("wikiart_face", "released", source=str(tmp_path / "p" / "x.parquet"), cache_dir=str(tmp_path / "d")).records()


def test_metadata_size_limit_is_a_clear_error(tmp_path, monkeypatch, http_server):
    monkeypatch.setenv("ARTFACE_MAX_METADATA_BYTES", "1000")
    (tmp_path / "metfaces.json").write_text(json.dumps([metfaces_record()] * 20))
    with pytest.raises(FileNotFoundError, match=r"cannot read .*metfaces.json: too_large: \d+ bytes > 1000"):
        load_builder("metfaces", "urls", source=str(tmp_path), cache_dir=str(tmp_path / "c")).records()
    url = http_server.add("/AAHQ-dataset.json", b"{" + b" " * 5000 + b"}")
    with pytest.raises(FileNotFoundError, match=r"cannot read .*AAHQ-dataset.json: too_large"):
        load_builder("aahq", "urls", source=url, cache_dir=str(tmp_path / "d")).records()
