"""The work store's crash accounting (artface.store): a record's start is a line in its process's
journal; a journal left by a dead process counts one crash for each record it started and never
ended, in whichever process starts work next; a clean exit leaves no journal."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from artface import locations
from artface.failures import Failure
from artface.records import Record
from artface.store import Outcome, WorkStore

WORKER = textwrap.dedent("""
    import os, sys
    from artface import locations
    from artface.failures import Failure
    from artface.records import Record
    from artface.store import Outcome, WorkStore
    store = WorkStore(sys.argv[1])
    recs = [Record(id=f"r{i}", split="train", fetch=locations.url(f"https://x.example/{i}.jpg")) for i in range(3)]
    for r in recs:
        store.begin(r)
    store.save(recs[0], Outcome({"width": 1, "height": 1}))
    store.save_failure(recs[1], Failure("r1", "align", "no_face"))
    print("began", flush=True)
    if sys.argv[2] == "crash":
        os._exit(139)  # r2 was started and never ended
""")


def rec(i: int) -> Record:
    return Record(id=f"r{i}", split="train", fetch=locations.url(f"https://x.example/{i}.jpg"))


def run_worker(root, how: str) -> None:
    res = subprocess.run([sys.executable, "-c", WORKER, str(root), how], capture_output=True, text=True, timeout=120)
    assert "began" in res.stdout, res.stderr[-2000:]


def test_a_dead_process_journal_counts_one_crash_per_unfinished_record(tmp_path):
    root = tmp_path / "work"
    for n in (1, 2):
        run_worker(root, "crash")
        store = WorkStore(root)  # a new process's view
        assert [store.begin(rec(i)) for i in range(3)] == [0, 0, n], "only r2 never ended"
        assert list((root / "attempts").glob("*.log")) != [], "this process's own journal"
        del store
    assert (root / "attempts" / "crashes.tsv").read_text().count("\t2\n") == 1


def test_a_clean_exit_leaves_no_journal_and_a_retry_starts_from_zero(tmp_path):
    root = tmp_path / "work"
    run_worker(root, "exit")
    assert list((root / "attempts").glob("*.log")) == []
    run_worker(root, "crash")
    store = WorkStore(root)
    assert store.begin(rec(2)) == 1
    store.save_failure(rec(2), Failure("r2", "process", "worker_crash", "died"))
    store.forget_attempts(rec(2))  # --retry-failed: the failure no longer stands, crashes count from zero
    assert store.failure(rec(2)) is None and WorkStore(root).begin(rec(2)) == 0


def test_a_torn_outcome_reads_as_none(tmp_path):
    store = WorkStore(tmp_path / "work")
    store.save(rec(0), Outcome({"width": 1, "height": 1}))
    assert store.load(rec(0)) is not None
    path = store.cache.path(rec(0).key(), ".ok.json")
    path.write_bytes(path.read_bytes()[:-3])  # the process died while writing it
    assert store.load(rec(0)) is None and store.state(rec(0)) == ("pending", None)
