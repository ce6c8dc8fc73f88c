"""artface: art-face datasets as Hugging Face datasets."""
from ._version import __version__
from .builders import load_builder


def load_dataset(name: str, config: str | None = None, split: str | None = None, streaming: bool = False, **options):
    """Build (or reuse the finished build) and load an artface dataset; ``options`` go to the builder config."""
    builder = load_builder(name, config, **options)
    if streaming:
        return builder.as_streaming_dataset(split=split)
    build = builder.build().build
    return build.dataset(split) if split else build.datasets()


__all__ = ["__version__", "load_builder", "load_dataset"]
