"""A local folder as a publish destination: read as the Hub would be, replaced whole.

The new tree is made beside the folder (unchanged files hard-linked, the config's files new) and
swapped in with ``swap.replace_dir``, so a reader finds the old repo or the new one, never a mix.
A lock on the parent directory serialises two publishes into one folder (the folder's answer to a parent commit).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from artface_align.models import sha256_file

from ..swap import replace_dir
from .plan import RepoState, owned
from .staging import META_NAME


class FolderRepo:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()

    def __str__(self) -> str:
        return str(self.path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Held from reading the folder to swapping it in: a lock on the parent directory itself
        (nothing left beside the folder)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def state(self) -> RepoState:
        files = ({p.relative_to(self.path).as_posix(): p.stat().st_size for p in self.path.rglob("*") if p.is_file()}
                 if self.path.is_dir() else {})
        meta_path = self.path / META_NAME
        try:
            meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        except ValueError as exc:
            raise ValueError(f"{meta_path}: not valid JSON ({exc}); move it away to publish into this folder") from None
        return RepoState(None, meta, files)

    def same(self, rel: str, local: Path) -> bool:
        theirs = self.path / rel
        return theirs.is_file() and theirs.stat().st_size == local.stat().st_size and sha256_file(theirs) == sha256_file(local)

    def put(self, staged: Path, hub_config: str) -> bool:
        """Replace the config's files by the staged ones (README and ``artface.json`` too); returns
        whether anything changed. A crash leftover (``.<name>.artface-new``) is removed by the next run."""
        new = self.path.parent / f".{self.path.name}.artface-new"
        shutil.rmtree(new, ignore_errors=True)
        if self.path.is_dir():
            shutil.copytree(self.path, new, copy_function=_link_or_copy)
            for p in list(new.rglob("*")):
                if p.is_file() and owned(p.relative_to(new).as_posix(), hub_config):
                    p.unlink()
        else:
            new.mkdir()
        changed = False
        for path in staged.rglob("*"):
            if path.is_file():
                rel = path.relative_to(staged).as_posix()
                changed = changed or not self.same(rel, path)
                target = new / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.unlink(missing_ok=True)  # never write through a hard link into the old tree
                shutil.copyfile(path, target)
        gone = self.path.is_dir() and any(p.is_file() and not (new / p.relative_to(self.path)).is_file()
                                          for p in self.path.rglob("*"))
        if not (changed or gone) and self.path.is_dir():
            shutil.rmtree(new)
            return False
        replace_dir(new, self.path)
        return True


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
