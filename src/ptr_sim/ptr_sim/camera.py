"""The fixed scene camera; its pose is configurable to test a novel viewpoint (PTR Table VIII)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ptr_sim.bullet import pb


@dataclass(frozen=True)
class CameraConfig:
    """Look-at camera in the robot base frame (metres, degrees)."""

    eye: tuple[float, float, float] = (0.02, -0.32, 0.40)
    """camera position: over the right shoulder of the arm, facing the fixtures."""
    target: tuple[float, float, float] = (0.33, 0.02, 0.02)
    """point the optical axis goes through."""
    fov: float = 52.0
    """vertical field of view in degrees."""

    def shifted(self, offset: tuple[float, float, float]) -> 'CameraConfig':
        """The same camera moved by `offset` (eye only), e.g. one kitchen's camera offset."""
        return replace(self, eye=tuple(float(e + o) for e, o in zip(self.eye, offset)))


class Camera:
    """Precomputed matrices + TinyRenderer (no shadows, no segmentation: the fast path)."""

    def __init__(self, config: CameraConfig, size: int, client: int) -> None:
        if size not in (48, 64, 128) and not 16 <= size <= 512:
            raise ValueError(f'image_size: expected 48, 64 or 128, got {size}')
        self.config, self.size, self.client = config, int(size), client
        self.view = pb.computeViewMatrix(config.eye, config.target, (0, 0, 1))
        self.proj = pb.computeProjectionMatrixFOV(config.fov, 1.0, 0.05, 3.0)

    def render(self) -> np.ndarray:
        _, _, rgba, _, _ = pb.getCameraImage(
            self.size, self.size, self.view, self.proj, shadow=0,
            renderer=pb.ER_TINY_RENDERER, flags=pb.ER_NO_SEGMENTATION_MASK,
            physicsClientId=self.client)
        return np.asarray(rgba, dtype=np.uint8).reshape(self.size, self.size, 4)[:, :, :3].copy()
