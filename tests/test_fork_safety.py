"""What a --num-proc build's writers inherit when datasets forks them: no model session left as
garbage by the set-up, which a child's garbage collector would free by destroying a thread pool
whose threads only the parent has (the worker then waits forever)."""
from __future__ import annotations

import gc

from artface.builders import load_builder
from artface.builders.kaokore.test_builder import serve_kaokore


def _native_sessions() -> list[str]:
    """ONNX sessions and LiteRT interpreters alive in this process, reachable or garbage."""
    return [type(o).__name__ for o in gc.get_objects() if type(o).__name__ in ("InferenceSession", "Interpreter")]


def test_the_set_up_frees_its_model_sessions_before_the_writers_fork(http_server, tmp_path):
    src = serve_kaokore(http_server, bad={})
    b = load_builder("kaokore", "aligned", source=src, cache_dir=str(tmp_path / "hf"))  # cascade + face mesh
    gc.collect()
    before = _native_sessions()
    gc.disable()  # as when no collection happens to run between the set-up and the fork
    try:
        b.prepare_run()
        assert _native_sessions() == before, "the set-up's detector and mesh sessions are gone before any fork"
    finally:
        gc.enable()
