"""`artface demo`: the real pipeline on the astronaut photo that scikit-image ships (no network)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from artface_align import FaceAligner
from artface_align.draw import draw_faces, draw_points
from artface_align.ffhq import DEFAULT_WARP


def run_demo(out_dir: str | Path = "artface-out/demo", size: int = 1024, warp: str = DEFAULT_WARP) -> dict:
    """Detect and align the astronaut's face; write aligned.png, preview.png, face.json."""
    from skimage import data

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(data.astronaut())
    aligner = FaceAligner(size=size, warp=warp)
    results = aligner(image, max_faces=None)
    if not results:
        raise RuntimeError("no face found in the astronaut photo: the detector model is broken")
    preview = draw_faces(image, [f for f, _ in results])
    face, aligned = results[0]
    aligned_preview = draw_points(aligned.image, aligned.map_points(face.kps5))
    paths = {
        "aligned": out / "aligned.png",
        "aligned_points": out / "aligned_points.png",
        "preview": out / "preview.png",
        "face": out / "face.json",
    }
    aligned.image.save(paths["aligned"])
    aligned_preview.save(paths["aligned_points"])
    preview.save(paths["preview"])
    info = {
        "detector": aligner.detector.name,
        "detector_sha256": aligner.detector.model_sha256,
        "faces": [f.to_dict() for f, _ in results],
        "size": size,
        "warp": warp,
        "transform": np.asarray(aligned.matrix).tolist(),
    }
    paths["face"].write_text(json.dumps(info, indent=2))
    return {"paths": {k: str(v) for k, v in paths.items()}, **info}
