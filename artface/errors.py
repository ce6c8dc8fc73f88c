"""The errors artface raises on purpose. Their message is the one line the CLI shows (what, the
cause, what to do); anything else is a bug and keeps its traceback under ``--debug``."""
from __future__ import annotations


class ArtfaceError(Exception):
    """Base of artface's own errors; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UnknownName(ArtfaceError, KeyError):
    """An unknown dataset, config or option name."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError quotes its message; ours is a sentence
        return str(self.args[0]) if self.args else ""


class SourceError(ArtfaceError, FileNotFoundError):
    """The upstream data cannot be located or read (one line: what, where, what to do)."""


class MetadataError(ArtfaceError, ValueError):
    """A metadata file is malformed: the message names the file, the line or record, and the problem."""
