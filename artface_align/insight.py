"""insightface models (SCRFD detectors, 1k3d68 / 2d106det landmarkers): the one place that imports
insightface, resolves the sha256-pinned file and checks what insightface's model_zoo made of it."""
from __future__ import annotations

from .errors import ArtfaceAlignError, MissingDependencyError
from .models import ResolvedModel, resolve
from .runtime import default_providers, session_options


def insightface_model(model: str, model_path: str | None, task: str, threads: int | None,
                      providers: list[str] | None, allow_download: bool | None):
    """(net, resolved file) for ``model``; ``task``: the model_zoo task name the graph must route to
    ("detection", or "landmark" for any landmark model). One error names the file and what it was."""
    try:
        from insightface import model_zoo
    except ImportError as exc:
        raise MissingDependencyError("insightface models need the 'insightface' extra: pip install 'artface[insightface]'") from exc
    resolved: ResolvedModel = resolve(model, model_path, allow_download=allow_download)
    net = model_zoo.get_model(str(resolved.path), providers=providers or default_providers(),
                              sess_options=session_options(threads))
    if net is None or not str(getattr(net, "taskname", "")).startswith(task):
        what = "an SCRFD detector" if task == "detection" else "a landmark model"
        raise ArtfaceAlignError(f"{resolved.path} is not {what} (insightface routed it to {type(net).__name__})")
    return net, resolved
