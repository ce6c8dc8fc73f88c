import json
import subprocess
import sys

from PIL import Image


def test_demo_cli_writes_aligned_face_and_preview(tmp_path):
    out = tmp_path / "demo"
    res = subprocess.run([sys.executable, "-m", "artface.cli", "demo", "--out", str(out)], capture_output=True, text=True, check=True)
    assert "1 face(s)" in res.stdout and str(out / "aligned.png") in res.stdout
    assert Image.open(out / "aligned.png").size == (1024, 1024)
    assert Image.open(out / "preview.png").size == (512, 512)
    info = json.loads((out / "face.json").read_text())
    assert len(info["faces"]) == 1 and info["detector"] == "retinaface_mnet025"
    assert len(info["faces"][0]["kps5"]) == 5


def test_doctor_lists_models_and_where_they_resolve(tmp_path):
    import os

    env = dict(os.environ, ARTFACE_CACHE=str(tmp_path), ARTFACE_MODELS=str(tmp_path / "none"))
    res = subprocess.run([sys.executable, "-m", "artface.cli", "doctor"], capture_output=True, text=True, env=env, check=True)
    assert "retinaface_mnet025   OK   package retinaface.weights" in res.stdout
    assert "scrfd_10g" in res.stdout and "not found" in res.stdout and "onnxruntime providers" in res.stdout
