from __future__ import annotations

import numpy as np
import pytest
from skimage import data


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real face photo (512x512 RGB) that ships with scikit-image."""
    return data.astronaut()


@pytest.fixture(scope="session")
def detector():
    from artface_align import RetinaFaceDetector

    return RetinaFaceDetector(threads=1)
