"""Registry of dataset builders: one folder per dataset, named by the folder (as TFDS does).

A dataset is a folder with a ``builder.py`` defining one ``ArtfaceBuilder`` subclass (plus its
``card.md``, ``CITATION.bib``, fixtures and tests). The folders under ``artface/builders/`` are
found by listing it, and so are those under each directory of ``$ARTFACE_BUILDERS_PATH``
(os.pathsep-separated): adding a dataset touches only its folder. Composites (the ``all`` union)
are listed after the datasets they are made of.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from functools import cache
from pathlib import Path

from ..errors import UnknownName

PATH_ENV = "ARTFACE_BUILDERS_PATH"
_HERE = Path(__file__).parent


def _folders() -> dict[str, Path]:
    return _folders_on(os.environ.get(PATH_ENV, ""))


@cache
def _folders_on(extra: str) -> dict[str, Path]:
    """The dataset folders, listed once per value of ``$ARTFACE_BUILDERS_PATH`` (not on every lookup)."""
    roots = [_HERE] + [Path(p) for p in extra.split(os.pathsep) if p]
    found: dict[str, Path] = {}
    for root in roots:
        if root.is_dir():
            for d in sorted(root.iterdir()):
                if (d / "builder.py").is_file() and d.name.isidentifier() and not d.name.startswith("_"):
                    found.setdefault(d.name, d)  # a built-in dataset is never shadowed
    return found


def _ordered(folders: dict[str, Path]) -> dict[str, Path]:
    return dict(sorted(folders.items(), key=lambda kv: _load(*kv).COMPOSITE))


@cache
def _load(name: str, folder: Path):
    import datasets  # not ._base: the registry imports no builder machinery (no import cycle through it)

    if folder.parent == _HERE:
        module = importlib.import_module(f"artface.builders.{name}.builder")
    else:  # a dataset folder outside the package: imported under its own module name
        mod_name = f"artface_datasets.{name}.builder"
        spec = importlib.util.spec_from_file_location(mod_name, folder / "builder.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
    classes = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, datasets.DatasetBuilder) and v.__module__ == module.__name__]
    if len(classes) != 1:
        raise ImportError(f"{folder / 'builder.py'}: defines {len(classes)} builder classes; a dataset folder defines one "
                          f"ArtfaceBuilder subclass")
    return classes[0]


def names() -> list[str]:
    """Every registered dataset: the folders' names, composites last."""
    return list(_ordered(_folders()))


def canonical_name(name: str) -> str:
    """Dataset names are case-insensitive, with - or _ (``MetFaces``, ``wikiart-face``)."""
    key = name.strip().lower().replace("-", "_")
    folders = _folders()  # no import needed to know the names
    if key not in folders:
        raise UnknownName(f"unknown dataset {name!r}; available: {', '.join(sorted(folders))} (artface list)")
    return key


def builder_class(name: str):
    key = canonical_name(name)
    return _load(key, _folders()[key])


def datasets_only() -> list[str]:
    """The registered datasets that are not composites (what a union can be made of)."""
    return [n for n in names() if not builder_class(n).COMPOSITE]


def load_builder(name: str, config_name: str | None = None, **config_kwargs):
    """A ``datasets`` builder for an artface dataset: ``download_and_prepare()``, ``as_dataset()``,
    ``as_streaming_dataset()`` work as usual. Keyword options go to the config (size, source, ...);
    ``cache_dir`` goes to the builder. Unknown configs and options are refused before any work."""
    import dataclasses

    builder_kwargs = {k: config_kwargs.pop(k) for k in ("cache_dir", "writer_batch_size") if k in config_kwargs}
    cls = builder_class(name)
    configs = [c.name for c in cls.BUILDER_CONFIGS]
    if config_name is not None and config_name not in configs:
        raise UnknownName(f"{cls.DATASET_NAME} has no config {config_name!r}; its configs: {', '.join(configs)}")
    fields = {f.name for f in dataclasses.fields(cls.BUILDER_CONFIG_CLASS)}
    unknown = sorted(set(config_kwargs) - fields)
    if unknown:
        raise UnknownName(f"{cls.DATASET_NAME} has no option {', '.join(map(repr, unknown))}; "
                          f"see `artface info {cls.DATASET_NAME}` for its options")
    return cls(config_name=config_name, **builder_kwargs, **config_kwargs)


def policy_table() -> dict:
    """Every dataset's license policy (``artface.licenses.LicensePolicy``), by dataset name."""
    return {name: builder_class(name).POLICY for name in names()}
