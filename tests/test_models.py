import pytest

from artface_align import ChecksumMismatchError, ModelNotFoundError, RetinaFaceDetector, resolve
from artface_align.models import REGISTRY, sha256_bytes


def test_every_downloadable_model_has_a_pinned_sha256():
    for spec in REGISTRY.values():
        if spec.pack_url or spec.hf_repo or spec.package_attr:
            assert spec.sha256 and len(spec.sha256) == 64, spec.name


def test_default_detector_comes_from_the_package_and_is_verified(monkeypatch):
    monkeypatch.delenv("ARTFACE_MODELS", raising=False)
    r = resolve("retinaface_mnet025")
    assert r.origin == "package retinaface.weights"
    assert sha256_bytes(r.load_bytes()) == REGISTRY["retinaface_mnet025"].sha256


def test_models_dir_wins_over_package_and_bad_checksum_is_refused(tmp_path, monkeypatch):
    (tmp_path / "retinaface_mnet025.onnx").write_bytes(b"not the real weights")
    monkeypatch.setenv("ARTFACE_MODELS", str(tmp_path))
    with pytest.raises(ChecksumMismatchError, match="was not used"):
        resolve("retinaface_mnet025")
    with pytest.raises(ChecksumMismatchError):
        RetinaFaceDetector()


def test_models_dir_with_the_right_file_is_used(tmp_path, monkeypatch):
    import retinaface.weights

    (tmp_path / "retinaface_mnet025.onnx").write_bytes(retinaface.weights.WEIGHTS)
    monkeypatch.setenv("ARTFACE_MODELS", str(tmp_path))
    r = resolve("retinaface_mnet025")
    assert r.origin == "$ARTFACE_MODELS" and r.path == tmp_path / "retinaface_mnet025.onnx"
    det = RetinaFaceDetector()
    assert det.model_origin == "$ARTFACE_MODELS"


def test_missing_model_names_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTFACE_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("ARTFACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ARTFACE_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(ModelNotFoundError) as err:
        resolve("scrfd_10g")
    msg = str(err.value)
    assert "scrfd_10g" in msg and "det_10g.onnx" in msg
    assert str(tmp_path / "models" / "det_10g.onnx") in msg and str(tmp_path / "cache" / "models" / "det_10g.onnx") in msg
    assert "ARTFACE_ALLOW_DOWNLOAD=1" in msg and "buffalo_l.zip" in msg


def test_explicit_path_that_does_not_exist(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve("scrfd_10g", tmp_path / "nope.onnx")


def test_unknown_model_name():
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        resolve("yolo_face")
