"""Multi-Modal-CelebA-HQ from a temporary directory in the upstream layout (made here)."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artface.builders import load_builder
from artface.builders.mm_celeba_hq.builder import DEFAULT_ATTRIBUTES, MASK_NAMES, UnsafePickleError, load_name_list
from artface.licenses import PublishRefused
from artface.publish import publish
from artface.testing.images import astronaut_face_crop

N = 6


def make_layout(root: Path, swap: bool = False, skip: tuple[str, ...] = ()) -> Path:
    (root / "image").mkdir(parents=True)
    for i in range(N):
        (root / "image" / f"{i}.jpg").write_bytes(astronaut_face_crop(i, size=128))
    if "captions" not in skip:
        (root / "text" / "celeba-caption").mkdir(parents=True)
        for i in range(N):
            (root / "text" / "celeba-caption" / f"{i}.txt").write_text("\n".join(f"caption {j} of face {i}" for j in range(10)) + "\n")
    train, test = [str(i) for i in range(4)], [str(i) for i in range(4, N)]
    if swap:
        train, test = test, train
    for split, names in (("train", train), ("test", test)):
        (root / split).mkdir()
        (root / split / "filenames.pickle").write_bytes(pickle.dumps(names, protocol=2))
    if "mask" not in skip:
        for i in range(N):
            d = root / "CelebAMask-HQ-mask-anno" / str(i // 2000)
            d.mkdir(parents=True, exist_ok=True)
            skin = np.zeros((64, 64), np.uint8)
            skin[8:56, 8:56] = 255
            nose = np.zeros((64, 64), np.uint8)
            nose[28:36, 28:36] = 255
            hair = np.zeros((64, 64), np.uint8)
            hair[0:16, :] = 255  # overlaps skin rows 8-15: hair (later) wins
            for part, m in (("skin", skin), ("nose", nose), ("hair", hair)):
                Image.fromarray(m).save(d / f"{i:05d}_{part}.png")
    if "attributes" not in skip:
        lines = [str(N), " ".join(DEFAULT_ATTRIBUTES)]
        for i in range(N):
            lines.append(f"{i}.jpg " + " ".join("1" if (j + i) % 3 == 0 else "-1" for j in range(40)))
        (root / "CelebAMask-HQ-attribute-anno.txt").write_text("\n".join(lines) + "\n")
    if "sketch" not in skip:
        (root / "sketch").mkdir()
        for i in range(N):
            Image.new("L", (32, 32), 200 + i).save(root / "sketch" / f"{i}.png")
    return root


#: records per split that contract_source() builds into, per config (pixel configs: max_records=5)
CONTRACT_SPLITS = {"original": {"train": 4, "test": 2}}


def contract_source(tmp_path, server, config: str) -> dict:
    return {"data_dir": str(make_layout(tmp_path / "mm"))}


def test_full_layout_builds_every_modality(tmp_path):
    root = make_layout(tmp_path / "mm")
    b = load_builder("mm_celeba_hq", data_dir=str(root), cache_dir=str(tmp_path / "hf"))
    b.download_and_prepare()
    ds = b.as_dataset()
    assert {k: len(v) for k, v in ds.items()} == {"train": 4, "test": 2}
    row = ds["train"][1]
    assert row["image"].size == (128, 128) and row["captions"][0] == "caption 0 of face 1" and len(row["captions"]) == 10
    mask = np.asarray(row["mask"])
    ids = {n: i for i, n in enumerate(MASK_NAMES)}
    assert mask[4, 4] == ids["hair"] and mask[12, 30] == ids["hair"], "hair (later) overwrites skin"
    assert mask[20, 10] == ids["skin"] and mask[30, 30] == ids["nose"] and mask[60, 60] == ids["background"]
    assert np.asarray(row["sketch"])[0, 0] == 201
    assert row["5_o_Clock_Shadow"] is False and row["Arched_Eyebrows"] is False and row["Attractive"] is True
    assert b.report()["failed"] == 0
    streamed = list(load_builder("mm_celeba_hq", data_dir=str(root), cache_dir=str(tmp_path / "s")).as_streaming_dataset(split="test"))
    built = list(ds["test"])
    assert [r["id"] for r in streamed] == [r["id"] for r in built]
    for s, r in zip(streamed, built):
        assert np.array_equal(np.asarray(s["mask"]), np.asarray(r["mask"])) and s["captions"] == r["captions"]


def test_swapped_split_lists_are_detected(tmp_path, caplog):
    root = make_layout(tmp_path / "mm", swap=True)
    b = load_builder("mm_celeba_hq", data_dir=str(root), cache_dir=str(tmp_path / "hf"))
    recs = b.records()
    assert sum(r.split == "train" for r in recs) == 4 and "swapped" in caplog.text


def test_missing_items_are_listed_with_their_sources(tmp_path):
    root = make_layout(tmp_path / "mm", skip=("sketch", "mask"))
    with pytest.raises(FileNotFoundError) as err:
        load_builder("mm_celeba_hq", data_dir=str(root), cache_dir=str(tmp_path / "hf")).records()
    msg = str(err.value)
    assert "2 item(s) missing" in msg and str(root / "sketch") in msg and "CelebAMask-HQ-mask-anno" in msg
    assert "switchablenorms/CelebAMask-HQ" in msg and "allow_missing=['mask', 'sketch']" in msg


def test_partial_layout_builds_only_when_asked(tmp_path):
    root = make_layout(tmp_path / "mm", skip=("sketch",))
    b = load_builder("mm_celeba_hq", data_dir=str(root), allow_missing=["sketch"], cache_dir=str(tmp_path / "hf"))
    b.download_and_prepare()
    row = b.as_dataset(split="train")[0]
    assert row["sketch"] is None and row["mask"] is not None


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/artface-pwned",))


def test_split_lists_are_never_unpickled_with_plain_pickle(tmp_path):
    p = tmp_path / "filenames.pickle"
    p.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(UnsafePickleError, match="refusing to load"):
        load_name_list(p)
    assert not Path("/tmp/artface-pwned").exists()
    p.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UnsafePickleError, match="expected a list of strings"):
        load_name_list(p)
    p.write_bytes(b"garbage")
    with pytest.raises(UnsafePickleError, match="not a readable pickle"):
        load_name_list(p)


def test_publishing_is_refused_even_privately(tmp_path):
    root = make_layout(tmp_path / "mm")
    for private in (False, True):
        with pytest.raises(PublishRefused, match="may not be redistributed"):
            publish("mm_celeba_hq", "original", "pixels", to=str(tmp_path / "out"), private=private, data_dir=str(root))
    assert not (tmp_path / "out").exists()


def test_no_data_dir_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="manual download"):
        load_builder("mm_celeba_hq", cache_dir=str(tmp_path)).records()
