"""A 3Dconnexion SpaceMouse through `pyspacemouse` (optional; raw HID, no vendor driver).

Why optional: it needs hidapi and udev permissions that a sim-only user does not have; without
it the node says what to install once and the keyboard keeps working.
"""
from __future__ import annotations

from typing import Any

import numpy as np

INSTALL_HINT = ('SpaceMouse input needs `pip install pyspacemouse` (and libhidapi plus a udev '
                'rule for /dev/hidraw*); using the keyboard alone')


class SpaceMouse:
    """The puck's latest reading as 6 axes in -1..1 and (left, right) buttons."""

    def __init__(self, module: Any, device: Any) -> None:
        self._module, self._device = module, device

    @classmethod
    def open(cls, logger: Any, module: Any = None) -> SpaceMouse | None:
        """The attached SpaceMouse, or None (logged) when the library or device is missing."""
        if module is None:
            try:
                import pyspacemouse as module  # type: ignore[no-redef]
            except ImportError:
                logger.warning(INSTALL_HINT)
                return None
        try:
            device = module.open()
        except Exception as e:  # noqa: BLE001 - HID errors come in many types
            logger.warning(f'SpaceMouse: cannot open ({type(e).__name__}: {e}); keyboard only')
            return None
        if not device:
            logger.warning('SpaceMouse: no device attached; keyboard only')
            return None
        return cls(module, device)

    def read(self) -> tuple[np.ndarray, tuple[bool, bool]]:
        state = self._module.read()
        axes = np.array([state.x, state.y, state.z, state.roll, state.pitch, state.yaw], float)
        buttons = list(getattr(state, 'buttons', getattr(state, 'button', [])) or [])
        left = bool(buttons[0]) if buttons else False
        right = bool(buttons[1]) if len(buttons) > 1 else False
        return np.clip(axes, -1.0, 1.0), (left, right)
