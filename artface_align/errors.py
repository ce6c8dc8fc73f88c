"""Errors with messages that say what failed, why, and what to do."""


class ArtfaceAlignError(Exception):
    """Base class."""


class ImageDecodeError(ArtfaceAlignError, ValueError):
    """The input is not a usable image (corrupt, truncated, empty, too large)."""


class ModelNotFoundError(ArtfaceAlignError, FileNotFoundError):
    """A model file was not found anywhere the resolver looked."""


class ChecksumMismatchError(ArtfaceAlignError):
    """A model file's sha256 differs from the registry's: the file is not used."""


class MissingDependencyError(ArtfaceAlignError, ImportError):
    """An optional extra (insightface, dlib) is needed and not installed."""
