"""A picture of any size to the model's square, fast enough for every frame of a call."""

from __future__ import annotations

import cv2
import numpy as np


def square(rgb: np.ndarray, side: int, fit: str = "crop") -> np.ndarray:
    """(H, W, 3) uint8 -> (side, side, 3): the centre square (``crop``) or the whole picture
    letterboxed (``pad``), resized with area averaging."""
    height, width = rgb.shape[:2]
    if (height, width) == (side, side):
        return rgb
    if fit == "crop":
        edge = min(width, height)
        top, left = (height - edge) // 2, (width - edge) // 2
        return cv2.resize(rgb[top : top + edge, left : left + edge], (side, side),
                          interpolation=cv2.INTER_AREA)
    scale = side / max(width, height)
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    out = np.zeros((side, side, 3), np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    return out
