"""The picture's global motion (format 8.0): how the whole picture moved since its key frame,
for what lies outside the motion region (motion/fullsize.py).

A camera that pans, tilts or zooms moves the background of a wide picture; the motion model
sees only its square region, so without this the rest of the picture would stand still. Each
frame sends one homography from the frame to its key frame, as the displacement of the
picture's four corners (0, 0), (W, 0), (W, H), (0, H) in whole pixels: 8 integers that travel
as 8 more numbers of the frame's token (unit 1 pixel, whatever the quality) and are entropy
coded with it, residuals against the frame before.

- ``estimate`` (encoder only, so it need not be bit-exact): DIS optical flow from the frame
  to the key frame at about 180 pixels on the short side, over the pixels outside the region,
  fitted by a RANSAC homography; a frame whose fit does not beat a still background by 10 %
  (a person moving, not the camera) sends no motion.
- ``homography`` / ``positions`` (encoder and decoder): the corners' displacement back to the
  3x3 matrix (OpenCV's four-point transform) and the positions in the key frame that a set of
  output pixels read from.
"""

from __future__ import annotations

import cv2
import numpy as np

DIMS = 8  # numbers per frame: (dx, dy) of the four corners
LIMIT = 127  # the largest displacement a corner can send, in pixels (entropy.tables.MAX_LEVEL)
WORK_SIDE = 180  # the flow is computed with the picture's short side near this many pixels
MIN_OUTSIDE = 0.1  # below this share of the picture outside the region, no global motion
GAIN = 0.9  # a fit must leave at most this share of a still background's error outside
STRIDE = 4  # the fit takes every STRIDE-th pixel of the small picture, across and down
RANSAC_ITERATIONS = 300


def useful(width: int, height: int, region: tuple[int, int, int]) -> bool:
    """Whether a picture has enough outside its region for a global motion to matter."""
    side = region[2]
    return 1 - side * side / (width * height) >= MIN_OUTSIDE


def corners(width: int, height: int) -> np.ndarray:
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)


def homography(width: int, height: int, displacement: np.ndarray) -> np.ndarray | None:
    """The 3x3 matrix taking an output pixel to the key frame's, from the corners'
    displacement (8 numbers); None when they are all 0 (the picture stands still)."""
    moved = np.asarray(displacement, np.float32).reshape(4, 2)
    if not moved.any():
        return None
    start = corners(width, height)
    return cv2.getPerspectiveTransform(start, start + moved)


def positions(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 2) float32 output positions -> where they read the key frame, (..., 2) float32."""
    flat = np.ascontiguousarray(points.reshape(1, -1, 2), np.float32)
    return cv2.perspectiveTransform(flat, matrix).reshape(points.shape).astype(np.float32)


def _grey(picture: np.ndarray, shrink: int) -> np.ndarray:
    grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    if shrink == 1:
        return grey
    height, width = grey.shape
    return cv2.resize(grey, (width // shrink, height // shrink), interpolation=cv2.INTER_AREA)


def estimate(key: np.ndarray, frames: list[np.ndarray], region: tuple[int, int, int]) -> np.ndarray:
    """(F, 8) float32: each frame's corner displacement to ``key`` (full-size pictures), in
    pixels, within +-LIMIT; zeros where the picture outside ``region`` did not move as one."""
    height, width = key.shape[:2]
    shrink = max(1, min(width, height) // WORK_SIDE)
    small_key = _grey(key, shrink)
    rows, cols = small_key.shape
    x, y, side = (v / shrink for v in region)
    # the outside of the region, on every STRIDE-th pixel of the small picture
    ys, xs = np.mgrid[0:rows:STRIDE, 0:cols:STRIDE]
    outside = ~((xs >= x) & (xs < x + side) & (ys >= y) & (ys < y + side))
    ys, xs = ys[outside], xs[outside]
    out = np.zeros((len(frames), DIMS), np.float32)
    if len(xs) < 16:
        return out
    # small pixel (i, j) covers full pixels whose centre is at (j + 0.5) * shrink - 0.5
    here = np.stack([xs, ys], 1).astype(np.float32)
    full = (here + 0.5) * shrink - 0.5
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    start = corners(width, height)
    for i, frame in enumerate(frames):
        small = _grey(frame, shrink)
        moved = flow.calc(small, small_key, None)[ys, xs]
        matrix, _ = cv2.findHomography(full, full + moved * shrink, cv2.RANSAC, 1.5 * shrink,
                                       maxIters=RANSAC_ITERATIONS)
        if matrix is None or not np.isfinite(matrix).all():
            continue
        # does it explain the outside better than a still picture?
        scale = np.diag([1 / shrink, 1 / shrink, 1.0])
        small_matrix = scale @ matrix @ np.linalg.inv(scale)
        warped = cv2.warpPerspective(small_key, small_matrix, (cols, rows),
                                     flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REPLICATE)
        still = np.abs(small_key[ys, xs].astype(np.float32) - small[ys, xs]).mean()
        fitted = np.abs(warped[ys, xs].astype(np.float32) - small[ys, xs]).mean()
        if fitted > GAIN * still:
            continue
        shift = (positions(matrix, start) - start).ravel()
        largest = np.abs(shift).max()
        if largest > LIMIT:  # beyond what a corner can send: the same motion, shortened
            shift *= LIMIT / largest
        out[i] = shift
    return out
