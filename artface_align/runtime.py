"""onnxruntime sessions made one way: thread count and providers in one place."""
from __future__ import annotations

import os

import onnxruntime as ort


def default_providers() -> list[str]:
    """CUDA first when onnxruntime-gpu offers it, CPU always as the fallback."""
    available = ort.get_available_providers()
    preferred = [p for p in ("CUDAExecutionProvider",) if p in available]
    return preferred + ["CPUExecutionProvider"]


def session_options(threads: int | None = None) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    threads = threads if threads is not None else int(os.environ.get("ARTFACE_THREADS", "0") or 0)
    if threads > 0:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


def make_session(model: bytes | str | os.PathLike, threads: int | None = None, providers: list[str] | None = None) -> ort.InferenceSession:
    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, sess_options=session_options(threads), providers=providers or default_providers())
