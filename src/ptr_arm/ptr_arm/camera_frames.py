"""Camera frame -> policy image: crop, square resize, BGR -> RGB (pure; the camera node calls it).

Why a centred square by default: the policy's images are square, and squashing a 4:3 frame into a
square would show the robot a differently shaped world than the one its data was recorded in.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ptr_core.data.bridge import resize


def parse_device(text: str) -> int | str:
    """'0' -> camera index 0; anything else (a /dev path, a video file, a URL) stays a string."""
    text = str(text).strip()
    return int(text) if text.isdigit() else text


def crop_box(height: int, width: int, crop: Sequence[int] = (0, 0, 0, 0)
             ) -> tuple[int, int, int, int]:
    """The (x, y, w, h) region of a height x width frame the image is cut from.

    `crop` (x, y, w, h in frame pixels) is used as given when w and h are positive; with w or h 0
    it is the largest centred square. A region outside the frame is a one-line ValueError.
    """
    if len(crop) != 4 or min(int(v) for v in crop) < 0:
        raise ValueError(f'crop: expected 4 non-negative integers x, y, w, h, got {list(crop)}')
    x, y, w, h = (int(v) for v in crop)
    if w == 0 or h == 0:
        side = min(height, width)
        return (width - side) // 2, (height - side) // 2, side, side
    if x + w > width or y + h > height:
        raise ValueError(f'crop: region x={x} y={y} w={w} h={h} does not fit the '
                         f'{width}x{height} frame')
    return x, y, w, h


def process_frame(bgr: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """uint8 HxWx3 BGR frame (OpenCV's order) -> size x size x 3 RGB of the box."""
    x, y, w, h = box
    rgb = np.ascontiguousarray(bgr[y:y + h, x:x + w, ::-1])
    if rgb.shape[:2] != (size, size):
        rgb = resize(rgb, size)
    return rgb
