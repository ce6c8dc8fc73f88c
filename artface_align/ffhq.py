"""The FFHQ-family alignment recipe (FFHQ, AAHQ, MetFaces), in two modes.

``reference`` follows NVlabs' ``recreate_aligned_images`` step by step: shrink, crop,
reflect-pad with blur and median blend, a supersampled quad warp (``transform_size``),
then an antialiased resize to the output size (LANCZOS: Pillow >= 10 has no ANTIALIAS).

``fast`` computes the same geometry as one affine warp at (twice) the output size from a
pre-shrunk crop, with the same padding blend applied on the small crop. It stays within
the PSNR figures printed by ``benchmarks/bench_align.py``.

Points are in source pixels with pixel centres at integer coordinates.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.ndimage
from PIL import Image

from .imageio import ImageInput, load_image, pixels
from .points import ffhq_points


@dataclass(frozen=True)
class Recipe:
    """Constants of one dataset's variant of the recipe."""

    name: str
    transform_size: int | None = 4096  # None: output_size * supersample
    supersample: int = 4
    rotate_level: bool = True
    enable_padding: bool = True

    def transform_for(self, output_size: int) -> int:
        return self.transform_size if self.transform_size else output_size * self.supersample


RECIPES: dict[str, Recipe] = {
    "ffhq": Recipe("ffhq"),
    "aahq": Recipe("aahq"),  # BlendGAN's AAHQ: FFHQ recipe, output 1024, transform 4096
    "metfaces": Recipe("metfaces", transform_size=None, supersample=4, rotate_level=True),
}



#: the alignment warp used when none is named, everywhere (artface_align and artface):
#: "fast" is ~50 dB from "reference" and 85-120x faster (benchmarks/bench_align.py)
DEFAULT_WARP = "fast"



def face_quad(points: np.ndarray, rotate_level: bool = True) -> tuple[np.ndarray, float]:
    """The oriented crop square (UL, LL, LR, UR corners) and its side length."""
    eye_left, eye_right, mouth_left, mouth_right = ffhq_points(points)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    scale = max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    if rotate_level:
        x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
        norm = np.hypot(*x)
        if not np.isfinite(norm) or norm == 0:
            raise ValueError("degenerate face points: eyes and mouth coincide")
        x = x / norm * scale
    else:
        x = np.array([1.0, 0.0]) * scale
    if scale == 0:
        raise ValueError("degenerate face points: eyes and mouth coincide")
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    return quad, float(np.hypot(*x) * 2)


@dataclass
class Aligned:
    """An aligned face and the affine map from source pixels to aligned pixels."""

    image: Image.Image
    matrix: np.ndarray  # (2, 3): aligned = matrix @ [x, y, 1]
    quad: np.ndarray  # source quad actually sampled (UL, LL, LR, UR), pixel-centre coordinates

    def map_points(self, points: np.ndarray) -> np.ndarray:
        return transform_points(self.matrix, points)


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p @ matrix[:, :2].T + matrix[:, 2]


def _quad_matrix(quad: np.ndarray, size: int) -> np.ndarray:
    """Affine map source (pixel centres) -> output (pixel centres) sending the quad to the square."""
    ul, ll, _, ur = quad + 0.5  # continuous coordinates
    (a, c), (b, d) = (ur - ul) / size, (ll - ul) / size  # basis columns: output continuous -> source offset
    det = a * d - b * c
    if det == 0:
        raise np.linalg.LinAlgError("Singular matrix")  # (as np.linalg.inv says it)
    inv = np.array([[d, -b], [-c, a]]) / det  # the 2x2 inverse in closed form: np.linalg.inv costs ~20 us here
    m = np.empty((2, 3))
    m[:, :2] = inv
    m[:, 2] = inv @ (0.5 - ul) - 0.5  # aligned = inv @ (p + 0.5 - ul) - 0.5
    return m


def _shrink_factor(qsize: float, output_size: int) -> int:
    return int(np.floor(qsize / output_size * 0.5))


def _pad_blend(img: np.ndarray, pad: tuple[int, int, int, int], qsize: float, fast: bool = False) -> np.ndarray:
    """Reflect-pad (left, top, right, bottom), then fade the padding towards blur and median.

    ``fast``: OpenCV's Gaussian (same reflect border, ~1e-4 apart) and the median of every 4th
    pixel, instead of scipy's filter and the full median used by the reference."""
    img = np.pad(np.float32(img), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
    h, w, _ = img.shape
    y, x, _ = np.ogrid[:h, :w, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        mask = np.maximum(
            1.0 - np.minimum(np.float32(x) / pad[0], np.float32(w - 1 - x) / pad[2]),
            1.0 - np.minimum(np.float32(y) / pad[1], np.float32(h - 1 - y) / pad[3]),
        )
    blur = qsize * 0.02
    if fast:
        blurred = cv2.GaussianBlur(img, (0, 0), blur, borderType=cv2.BORDER_REFLECT)
    else:
        blurred = scipy.ndimage.gaussian_filter(img, [blur, blur, 0])
    img += (blurred - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    median = np.median(img[::4, ::4].reshape(-1, 3), axis=0) if fast else np.median(img, axis=(0, 1))
    img += (median - img) * np.clip(mask, 0.0, 1.0)
    return np.uint8(np.clip(np.rint(img), 0, 255))


def _quad_box(quad: np.ndarray) -> tuple[int, int, int, int]:
    """The quad's bounding box in whole pixels (left, top, right, bottom)."""
    return (int(np.floor(quad[:, 0].min())), int(np.floor(quad[:, 1].min())),
            int(np.ceil(quad[:, 0].max())), int(np.ceil(quad[:, 1].max())))


def _crop_box(quad: np.ndarray, border: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Recipe step 2: the quad's box grown by ``border``, inside the image."""
    x0, y0, x1, y1 = _quad_box(quad)
    return max(x0 - border, 0), max(y0 - border, 0), min(x1 + border, width), min(y1 + border, height)


def _pad_need(quad: np.ndarray, border: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Recipe step 3: how far (left, top, right, bottom) the quad plus ``border`` leaves the image."""
    x0, y0, x1, y1 = _quad_box(quad)
    return max(-x0 + border, 0), max(-y0 + border, 0), max(x1 - width + border, 0), max(y1 - height + border, 0)


def _blend_padding_in_output(out: np.ndarray, m: np.ndarray, src: np.ndarray, pad: tuple[int, int, int, int],
                             work: int) -> np.ndarray:
    """Recipe step 3 computed on the warped output instead of the padded source: the same fade
    towards blur and median, with the mask of each output pixel's source position. The blur's
    sigma (2% of the quad) is 2% of the output; the source was warped with a mirrored border,
    which is the reflect padding. Costs a few output-sized passes instead of a pass over the padded
    source (which for tight crops is several times the output's area)."""
    k = 4  # the mask is piecewise linear in output coordinates: made on a 4x coarser grid, resized up
    n = -(-work // k)
    inv = cv2.invertAffineTransform(m).astype(np.float32)
    ys, xs = (np.mgrid[:n, :n].astype(np.float32) * k + (k - 1) / 2)
    h, w = src.shape[:2]
    left, top, right, bottom = pad
    xp = inv[0, 0] * xs + inv[0, 1] * ys + (inv[0, 2] + left)  # position in the padded source
    yp = inv[1, 0] * xs + inv[1, 1] * ys + (inv[1, 2] + top)
    W, H = w + left + right, h + top + bottom
    mask = np.maximum(1.0 - np.minimum(xp / left, (W - 1 - xp) / right), 1.0 - np.minimum(yp / top, (H - 1 - yp) / bottom))
    up = lambda a: cv2.resize(a, (n * k, n * k), interpolation=cv2.INTER_LINEAR)[:work, :work]  # noqa: E731
    to_blur, to_median = up(np.clip(mask * 3.0 + 1.0, 0.0, 1.0)), up(np.clip(mask, 0.0, 1.0))
    img = cv2.blendLinear(out.astype(np.float32), _smooth_blur(out, 0.02 * work), 1.0 - to_blur, to_blur)
    # the recipe's median is over the whole padded source: a 4x coarser reflect-padded copy of it
    coarse = np.pad(src[::4, ::4], ((top // 4, bottom // 4), (left // 4, right // 4), (0, 0)), "reflect")
    median = np.full(img.shape, np.median(coarse.reshape(-1, 3), axis=0), dtype=np.float32)
    # convex blends of 0..255 stay in 0..255: one rounding, saturating conversion (as np.rint + clip)
    return cv2.convertScaleAbs(cv2.blendLinear(img, median, 1.0 - to_median, to_median))


def _smooth_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur (float32): at a lower resolution and resized back when sigma is large
    (the result has nothing finer than sigma to lose), otherwise directly."""
    k = int(sigma // 2)  # at sigma / k >= 2 the small image still holds the kernel's shape
    if k < 2:
        return cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), sigma / k, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _crop_and_pad(img: Image.Image, quad: np.ndarray, qsize: float, enable_padding: bool):
    """Steps 2 and 3 of the recipe. Returns the image, the quad in its coordinates, and the offset."""
    border = max(int(np.rint(qsize * 0.1)), 3)
    crop = _crop_box(quad, border, *img.size)
    offset = np.zeros(2)
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad = quad - crop[0:2]
        offset -= crop[0:2]
    pad = _pad_need(quad, border, *img.size)
    if enable_padding and max(pad) > border - 4:
        pad = tuple(int(v) for v in np.maximum(pad, int(np.rint(qsize * 0.3))))
        img = Image.fromarray(_pad_blend(np.asarray(img), pad, qsize), "RGB")
        quad = quad + pad[:2]
        offset += pad[:2]
    return img, quad, offset


def _align_reference(img: Image.Image, quad: np.ndarray, qsize: float, size: int, recipe: Recipe) -> Aligned:
    transform_size = recipe.transform_for(size)
    src_w, src_h = img.size
    # 1. Shrink.
    shrink = _shrink_factor(qsize, size)
    fx = fy = 1.0
    if shrink > 1:
        rsize = (int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink)))
        img = img.resize(rsize, Image.LANCZOS)
        quad = quad / shrink
        qsize = qsize / shrink
        fx, fy = src_w / rsize[0], src_h / rsize[1]
    # 2-3. Crop and pad.
    img, quad_local, offset = _crop_and_pad(img, quad, qsize, recipe.enable_padding)
    # 4. Transform, then antialias down.
    img = img.transform((transform_size, transform_size), Image.QUAD, (quad_local + 0.5).flatten(), Image.BILINEAR)
    if size < transform_size:
        img = img.resize((size, size), Image.LANCZOS)
    # The quad sampled, back in source pixel-centre coordinates (the shrink moves it by < 1 px).
    sampled = (quad + 0.5) * [fx, fy] - 0.5
    return Aligned(img, _quad_matrix(sampled, size), sampled)


def _align_fast(img: Image.Image, quad: np.ndarray, qsize: float, size: int, recipe: Recipe, oversample: int | None = None,
                blend_in_output: bool = True) -> Aligned:
    """One affine warp at ``oversample * size`` from a crop pre-shrunk with area filtering.

    Small outputs warp at twice the size then area-average (closer to the reference's
    supersampling); from 512 px up one warp at output size is already within ~50 dB. Where the
    quad leaves the image, the padding blend is computed at the output resolution
    (``blend_in_output``; False: on the padded source crop, as before, for benchmarks).
    """
    if oversample is None:
        oversample = 2 if size < 512 else 1
    src_w, src_h = img.size
    shrink = _shrink_factor(qsize, size)
    fx = fy = 1.0
    if shrink > 1:  # the quad the reference samples, so both modes agree geometrically
        rsize = (int(np.rint(float(src_w) / shrink)), int(np.rint(float(src_h) / shrink)))
        fx, fy = src_w / rsize[0], src_h / rsize[1]
        quad = (quad / shrink + 0.5) * [fx, fy] - 0.5
    sampled = quad
    work = size * oversample
    # Crop a region of interest (with the recipe's border) from the full-resolution image.
    border = max(int(np.rint(qsize * 0.1)), 3)
    x0, y0, x1, y1 = _crop_box(quad, border, src_w, src_h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("face quad lies entirely outside the image")
    roi = pixels(img, (x0, y0, x1, y1))
    q = quad - [x0, y0]
    # Pre-shrink (area filter) to one input pixel per working pixel; with the 2x oversample, only beyond
    # two: bilinear taps up to 2 px apart, then its area-averaging, lose nothing visible and skip a slow
    # fractional INTER_AREA pass (bench_align: PSNR vs reference on the photo at 256 46.8 -> 49.0 dB).
    pre = min(1.0, oversample * work / qsize)
    if pre < 1.0:
        rw, rh = max(1, round(roi.shape[1] * pre)), max(1, round(roi.shape[0] * pre))
        sx, sy = rw / roi.shape[1], rh / roi.shape[0]
        roi = cv2.resize(roi, (rw, rh), interpolation=cv2.INTER_AREA)
        q = (q + 0.5) * [sx, sy] - 0.5
    q_qsize = qsize * min(sx, sy) if pre < 1.0 else qsize
    # Recipe step 3 (padding blend) on the small crop, when the quad leaves the image.
    pad_border = max(int(np.rint(q_qsize * 0.1)), 3)
    need = _pad_need(q, pad_border, roi.shape[1], roi.shape[0])
    padded = recipe.enable_padding and max(need) > pad_border - 4 and max(need) > 0
    pad = tuple(int(v) for v in np.maximum(need, int(np.rint(q_qsize * 0.3)))) if padded else (0, 0, 0, 0)
    blend_after = padded and blend_in_output
    if padded and not blend_in_output:
        roi = _pad_blend(roi, pad, q_qsize, fast=True)
        q = q + pad[:2]
    border = cv2.BORDER_REFLECT_101 if blend_after else cv2.BORDER_REFLECT  # 101 is np.pad's "reflect": the recipe's padding
    out = cv2.warpAffine(np.ascontiguousarray(roi), _quad_matrix(q, work), (work, work), flags=cv2.INTER_LINEAR,
                         borderMode=border)
    if oversample > 1:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    if blend_after:  # the blend's masks and blur are smooth: made on the output grid, after the area-averaging
        out = _blend_padding_in_output(out, _quad_matrix(q, size), roi, pad, size)
    return Aligned(Image.fromarray(out, "RGB"), _quad_matrix(sampled, size), sampled)


def alignment_matrix(points: np.ndarray, size: int, recipe: str | Recipe = "ffhq") -> np.ndarray:
    """The source -> aligned affine map the recipe implies for these points (no pixels needed);
    equal to ``align(...).matrix`` up to the reference mode's sub-pixel shrink rounding."""
    rec = RECIPES[recipe] if isinstance(recipe, str) else recipe
    quad, _ = face_quad(points, rec.rotate_level)
    return _quad_matrix(quad, size)


def warp_name(warp: str, mode: str | None) -> str:
    """``mode=`` is the old spelling of ``warp=`` (one word, one meaning: "mode" is the publish mode);
    accepted with a DeprecationWarning for one release."""
    if mode is None:
        return warp
    warnings.warn("artface_align: mode= is now warp= (mode= will be removed in the next release)",
                  DeprecationWarning, stacklevel=3)
    return mode


def align(
    image: ImageInput,
    points: np.ndarray,
    size: int = 1024,
    recipe: str | Recipe = "ffhq",
    warp: str = DEFAULT_WARP,
    *,
    mode: str | None = None,
) -> Aligned:
    """Align one face. ``points``: 4 FFHQ points, 5 key points (kps5) or 68 landmarks; ``warp``:
    ``fast`` (one prefiltered affine warp) or ``reference`` (NVlabs' script step by step)."""
    warp = warp_name(warp, mode)
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    rec = RECIPES[recipe] if isinstance(recipe, str) else recipe
    img = load_image(image)
    quad, qsize = face_quad(points, rec.rotate_level)
    if not np.all(np.isfinite(quad)):
        raise ValueError("face points are not finite")
    if warp == "reference":
        return _align_reference(img, quad, qsize, size, rec)
    if warp == "fast":
        return _align_fast(img, quad, qsize, size, rec)
    raise ValueError(f"warp must be 'reference' or 'fast', got {warp!r}")


def align_face(image: ImageInput, points: np.ndarray, size: int = 1024, recipe: str | Recipe = "ffhq",
               warp: str = DEFAULT_WARP, *, mode: str | None = None) -> Image.Image:
    """The aligned face as a PIL image (see ``align`` for the transform too)."""
    return align(image, points, size, recipe, warp_name(warp, mode)).image
