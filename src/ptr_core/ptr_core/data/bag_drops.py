"""Why a recorded action is not a transition of the dataset: reasons and per-bag counts."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ptr_core.data.trajectory import Trajectory

# Why an action recorded in a bag is not a transition of the dataset.
NO_IMAGE = 'no image at or before it'
NO_NEXT_IMAGE = 'no image after it (the recording ended)'
NO_STATE = 'no robot state yet'
AFTER_SUCCESS = "after the episode's success"
SHORT_EPISODE = 'in an episode shorter than min_length'
DROP_REASONS = (NO_IMAGE, NO_NEXT_IMAGE, NO_STATE, AFTER_SUCCESS, SHORT_EPISODE)


@dataclass
class Drops:
    """What a bag's actions became: how many were recorded, and those left out, by reason."""

    actions: int = 0
    reasons: Counter = field(default_factory=Counter)

    def add(self, reason: str, n: int) -> None:
        if n:
            self.reasons[reason] += int(n)

    def line(self, bag: str | Path, trajs: Sequence[Trajectory]) -> str:
        """`BAG: 31 actions -> 29 transitions in 1 episode; dropped 2: 1 ..., 1 ...`."""
        kept = sum(len(t.actions) for t in trajs)
        why = ', '.join(f'{self.reasons[r]} {r}' for r in DROP_REASONS if self.reasons[r])
        eps = f'{len(trajs)} episode{"" if len(trajs) == 1 else "s"}'
        lost = f'dropped {sum(self.reasons.values())}: {why}' if why else 'dropped none'
        return f'{bag}: {self.actions} actions -> {kept} transitions in {eps}; {lost}'
