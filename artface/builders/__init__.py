"""Registry of dataset builders: one folder per dataset."""
from __future__ import annotations

import importlib

BUILDERS = {
    "kaokore": "artface.builders.kaokore.builder:KaoKore",
    "metfaces": "artface.builders.metfaces.builder:MetFaces",
    "aahq": "artface.builders.aahq.builder:AAHQ",
    "mm_celeba_hq": "artface.builders.mm_celeba_hq.builder:MMCelebAHQ",
    "wikiart_face": "artface.builders.wikiart_face.builder:WikiArtFace",
}


def builder_class(name: str):
    if name not in BUILDERS:
        raise KeyError(f"unknown dataset {name!r}; available: {', '.join(sorted(BUILDERS))}")
    module, cls = BUILDERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def load_builder(name: str, config_name: str | None = None, **config_kwargs):
    """A ``datasets`` builder for an artface dataset: ``download_and_prepare()``, ``as_dataset()``,
    ``as_streaming_dataset()`` work as usual. Keyword options go to the config (size, source, ...);
    ``cache_dir`` goes to the builder."""
    builder_kwargs = {k: config_kwargs.pop(k) for k in ("cache_dir", "writer_batch_size") if k in config_kwargs}
    return builder_class(name)(config_name=config_name, **builder_kwargs, **config_kwargs)


def policy_table() -> dict:
    """Every dataset's license policy (``artface.licenses.LicensePolicy``), by dataset name."""
    return {name: builder_class(name).POLICY for name in BUILDERS}
