"""Replacing a folder whole (artface.swap): the atomic exchange, the two-rename fallback, and the
recovery of a crash between the fallback's two renames."""
from __future__ import annotations

from artface import swap


def _tree(path, text):
    path.mkdir(parents=True)
    (path / "f").write_text(text)
    return path


def test_replace_with_and_without_the_atomic_exchange(tmp_path, monkeypatch):
    dest = _tree(tmp_path / "repo", "old")
    swap.replace_dir(_tree(tmp_path / "new1", "one"), dest)
    assert (dest / "f").read_text() == "one" and not (tmp_path / "new1").exists()
    monkeypatch.setattr(swap, "exchange_dirs", lambda a, b: False)  # a system without renameat2
    swap.replace_dir(_tree(tmp_path / "new2", "two"), dest)
    assert (dest / "f").read_text() == "two" and not swap.parked(dest).exists()


def test_a_crash_between_the_two_renames_is_mended_by_the_next_run(tmp_path):
    dest = tmp_path / "repo"
    _tree(swap.parked(dest), "old")  # the crash: the old tree parked, the new one never moved in, no dest
    swap.recover(dest)
    assert (dest / "f").read_text() == "old" and not swap.parked(dest).exists()
    _tree(swap.parked(dest), "stale")  # the crash after the second rename: dest is new, the parked copy is left over
    swap.replace_dir(_tree(tmp_path / "new", "new"), dest)
    assert (dest / "f").read_text() == "new" and not swap.parked(dest).exists()
