"""Records are kept on disk as they are read (artface.record_spool), not held in memory: the spool reads
back as the sequence the builders used to hold, crosses into writer processes by its path, and leaves
no file behind."""
from __future__ import annotations

import gc
import multiprocessing
import pickle
import subprocess
import sys

import pytest

from artface import locations
from artface.builders import load_builder
from artface.builders.kaokore.builder import KaoKore
from artface.record_spool import RecordSpool
from artface.records import Record


def make(i: int, split: str) -> Record:
    return Record(id=f"r{i}", split=split, fetch=locations.url(f"https://example.org/{i}.jpg"),
                  image_url=f"https://example.org/{i}.jpg", fields={"n": i}, captions=[f"caption {i}"],
                  points=[[1.0 * i, 2.0]] * 5)


def _read_in_child(spool: RecordSpool, q) -> None:
    q.put([r.id for r in spool.split_range("test", 1, 3)])


def test_the_spool_reads_back_the_records_in_order_by_index_and_by_split(tmp_path):
    spool = RecordSpool(tmp_path)
    recs = [make(i, "train" if i % 3 else "test") for i in range(10)]
    for r in recs:
        spool.append(r)
    spool.close()
    assert len(spool) == 10 and list(spool) == recs
    assert spool[0] == recs[0] and spool[-1] == recs[-1] and spool[2:5] == recs[2:5]
    with pytest.raises(IndexError):
        spool[10]
    assert spool.splits() == {"test": 4, "train": 6}
    assert [r.id for r in spool.split_range("train", 2, 4)] == ["r4", "r5"]
    assert [r.id for r in spool.split_range("test", 0, 99)] == ["r0", "r3", "r6", "r9"]

    ctx = multiprocessing.get_context("spawn")  # a fresh process: only the pickled spool (path + index) crosses
    q = ctx.Queue()
    p = ctx.Process(target=_read_in_child, args=(pickle.loads(pickle.dumps(spool)), q))
    p.start()
    assert q.get(timeout=60) == ["r3", "r6"]
    p.join(60)

    path = spool.path
    del spool
    gc.collect()
    assert not path.exists(), "the spool's file goes with the spool"


def test_a_dead_process_spool_file_is_removed_by_the_next_spool(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"records-{dead.stdout.strip()}-0123456789ab.spool"
    orphan.write_bytes(b"left by a killed build")
    mine = RecordSpool(tmp_path)
    assert not orphan.exists() and mine.path.exists()


def test_a_build_keeps_its_records_in_a_spool_and_writes_every_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTFACE_CACHE", str(tmp_path / "cache"))
    b = load_builder("kaokore", "urls", source=str(KaoKore.FOLDER / "fixtures"), cache_dir=str(tmp_path / "hf"))
    recs = b.records()
    assert isinstance(recs, RecordSpool) and recs.path.parent == tmp_path / "cache" / "spool"
    b.download_and_prepare(num_proc=2)  # two writer processes, each reading its shards from the spool
    ds = b.as_dataset()
    assert {s: len(d) for s, d in ds.items()} == recs.splits() == {"train": 32, "validation": 2, "test": 4}
    assert [r["id"] for r in ds["test"]] == [r.id for r in recs.split_range("test", 0, 4)]
