"""Registry of dataset builders: one folder per dataset."""
from __future__ import annotations

import importlib

from ..errors import UnknownName

BUILDERS = {
    "kaokore": "artface.builders.kaokore.builder:KaoKore",
    "metfaces": "artface.builders.metfaces.builder:MetFaces",
    "aahq": "artface.builders.aahq.builder:AAHQ",
    "mm_celeba_hq": "artface.builders.mm_celeba_hq.builder:MMCelebAHQ",
    "wikiart_face": "artface.builders.wikiart_face.builder:WikiArtFace",
    "all": "artface.builders.all.builder:AllDatasets",
}


def canonical_name(name: str) -> str:
    """Dataset names are case-insensitive, with - or _ (``MetFaces``, ``wikiart-face``)."""
    key = name.strip().lower().replace("-", "_")
    if key not in BUILDERS:
        raise UnknownName(f"unknown dataset {name!r}; available: {', '.join(sorted(BUILDERS))} (artface list)")
    return key


def builder_class(name: str):
    module, cls = BUILDERS[canonical_name(name)].split(":")
    return getattr(importlib.import_module(module), cls)


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
    return {name: builder_class(name).POLICY for name in BUILDERS}
