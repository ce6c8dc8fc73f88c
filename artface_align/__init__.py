"""artface_align: ONNX face detection and FFHQ-family face alignment, without datasets or the Hub.

    >>> from artface_align import detect_faces, align_face
    >>> faces = detect_faces("portrait.jpg")          # [] when there is no face
    >>> aligned = align_face("portrait.jpg", faces[0].kps5, size=1024)
"""
from .aligner import FaceAligner
from .detect import Detector, InsightFaceDetector, RetinaFaceDetector, detect_faces, make_detector
from .errors import ArtfaceAlignError, ChecksumMismatchError, ImageDecodeError, MissingDependencyError, ModelNotFoundError
from .ffhq import RECIPES, Aligned, Recipe, align, align_face, alignment_matrix, face_quad, ffhq_points, transform_points
from .imageio import load_image, to_rgb_array
from .landmarks import DlibLandmarker, InsightFaceLandmarker, make_landmarker
from .models import REGISTRY, resolve
from .types import KPS5_NAMES, Face

__version__ = "0.1.0"

__all__ = [
    "Aligned", "ArtfaceAlignError", "alignment_matrix", "ChecksumMismatchError", "Detector", "DlibLandmarker", "Face", "FaceAligner",
    "ImageDecodeError", "InsightFaceDetector", "InsightFaceLandmarker", "KPS5_NAMES", "MissingDependencyError",
    "ModelNotFoundError", "RECIPES", "REGISTRY", "Recipe", "RetinaFaceDetector", "align", "align_face",
    "detect_faces", "face_quad", "ffhq_points", "load_image", "make_detector", "make_landmarker", "resolve",
    "to_rgb_array", "transform_points",
]
