"""Names from metadata become file names only after this check (no traversal, no surprises)."""
from __future__ import annotations

import re
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, max_len: int = 200) -> str:
    """A single path component from an untrusted name: no separators, no '..', no NUL.

    >>> safe_name("../../etc/passwd")
    'etc_passwd'
    """
    parts = [p for p in re.split(r"[\\/]+", str(name)) if p not in ("", ".", "..")]
    cleaned = _SAFE.sub("_", "_".join(parts)).strip("._")
    if not cleaned:
        raise ValueError(f"name {name!r} has no usable characters for a file name")
    return cleaned[:max_len]


def safe_join(base: str | Path, relative: str) -> Path:
    """``base / relative`` for a metadata-provided relative path; ValueError if it would leave ``base``."""
    root = Path(base).resolve()
    target = (root / relative).resolve()
    if Path(relative).is_absolute() or (target != root and root not in target.parents):
        raise ValueError(f"path {relative!r} from the metadata leaves {root}")
    return target
