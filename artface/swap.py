"""Replacing a folder whole: the one helper that builds, engines and folder publishes use.

A reader of ``dest`` finds the old folder or the new one, never a mix. On Linux the swap is one
``renameat2(RENAME_EXCHANGE)``; where the system cannot exchange, two renames with the old tree
parked at ``.<name>.artface-old`` first, and ``recover`` (called before every swap) puts a parked
tree back if a crash came between the two renames, then removes leftovers.
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path


def exchange_dirs(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where
    the system cannot."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")


def parked(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.artface-old"


def recover(dest: Path) -> None:
    """Undo what a crash between the fallback's two renames left: ``dest`` missing and its old
    tree parked -> the old tree back; ``dest`` present -> the parked copy removed."""
    old = parked(dest)
    if old.is_dir() and not old.is_symlink():
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.rename(dest)


def replace_dir(new: Path, dest: Path) -> None:
    """Put the finished folder ``new`` in place of ``dest`` (which may not exist); ``new`` is gone after."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    recover(dest)
    if not dest.exists():
        new.rename(dest)
    elif exchange_dirs(new, dest):
        shutil.rmtree(new)  # it holds the old tree now
    else:  # no atomic exchange here: two renames; recover() mends a crash between them
        old = parked(dest)
        dest.rename(old)
        new.rename(dest)
        shutil.rmtree(old)


def remove_orphans(folder: Path, prefix: str) -> None:
    """Remove the staging folders ``<prefix><pid>-...`` in ``folder`` whose process is gone (killed
    mid-work); a live process's, and this one's, are left alone."""
    for d in folder.glob(f"{prefix}*"):
        pid = d.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass  # another user's process: alive
