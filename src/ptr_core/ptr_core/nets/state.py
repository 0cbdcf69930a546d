"""Scaling of the 7-d state before it joins the image embedding (ptr_core.constants)."""
from __future__ import annotations

import torch

from ptr_core.constants import STATE_HIGH, STATE_LOW

_CENTER = torch.from_numpy((STATE_HIGH + STATE_LOW) / 2)
_HALF = torch.from_numpy((STATE_HIGH - STATE_LOW) / 2)


def scale_state(state: torch.Tensor, enabled: bool = True, used: bool = True) -> torch.Tensor:
    """[x, y, z, r, p, y, gripper] -> about [-1, 1] per dimension (identity when disabled).

    used=False zeroes the state (PTR's figure 2: the networks see the image and the task id
    only); the slot stays, so both settings share one architecture and one checkpoint layout.
    """
    if not used:
        return torch.zeros_like(state)
    if not enabled:
        return state
    return (state - _CENTER.to(state)) / _HALF.to(state)
