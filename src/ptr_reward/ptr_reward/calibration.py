"""The classifier's operating point: a threshold chosen on held-out episodes for a precision.

Online, what matters is the episode's verdict, not a frame's: an episode counts as a success at
the first frame that ends a run of `frames` consecutive frames with P(success) above the
threshold (the episode manager's rule), and that frame gets the reward. So a declaration is
correct when the task really holds at the frame it is made, and precision and recall are counted
over episodes: precision = correct declarations / declarations, recall = correct declarations /
episodes in which the task holds at some frame. `calibrate` picks the lowest threshold whose
held-out precision reaches the target (the most successes found at that precision), never below
0.5: the classifier trains on class-balanced batches, so 0.5 is its even-odds point, and a
held-out set of a few dozen episodes is no evidence for saying "success" where the classifier
itself thinks failure likelier (measured: a threshold calibrated down to 0.011 on 16 episodes
kept 3/3 there and fell to 4/32 on the policy's rollouts).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ptr_core.constants import SUCCESS_FRAMES


def declared_frame(probs: np.ndarray, threshold: float, frames: int = SUCCESS_FRAMES
                   ) -> int | None:
    """Index of the frame that completes the first run of `frames` frames above threshold."""
    run = 0
    for i, p in enumerate(np.asarray(probs, np.float64)):
        run = run + 1 if p > threshold else 0
        if run >= frames:
            return i
    return None


@dataclass
class EpisodeCounts:
    """Episode-level outcome counts of one decision rule against the true labels."""

    episodes: int
    declared: int  # episodes the rule called a success
    correct: int  # ...where the task held at the frame of the call
    successes: int  # episodes in which the task held at some frame

    @property
    def precision(self) -> float:
        return self.correct / self.declared if self.declared else float('nan')

    @property
    def recall(self) -> float:
        return self.correct / self.successes if self.successes else float('nan')


def count_episodes(probs: Sequence[np.ndarray], labels: Sequence[np.ndarray], threshold: float,
                   frames: int = SUCCESS_FRAMES) -> EpisodeCounts:
    """Apply the rule to every episode (frame probabilities and 0/1 frame labels)."""
    if len(probs) != len(labels):
        raise ValueError(f'count_episodes: expected one label array per episode, got '
                         f'{len(labels)} for {len(probs)}')
    declared = correct = successes = 0
    for p, y in zip(probs, labels):
        y = np.asarray(y).astype(bool)
        if len(y) != len(p):
            raise ValueError(f'count_episodes: expected a label per frame, got {len(y)} '
                             f'for {len(p)}')
        successes += bool(y.any())
        i = declared_frame(p, threshold, frames)
        if i is not None:
            declared += 1
            correct += bool(y[i])
    return EpisodeCounts(len(probs), declared, correct, successes)


@dataclass
class Calibration:
    """The chosen threshold and what it achieved on the calibration episodes."""

    threshold: float
    frames: int
    target_precision: float
    met: bool  # the target was reached (else: the threshold of the highest precision)
    episodes: int
    declared: int
    correct: int
    successes: int
    precision: float
    recall: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        state = 'reached' if self.met else 'NOT reached'
        return (f'threshold {self.threshold:.3f} over {self.frames} consecutive frames: '
                f'precision {self.correct}/{self.declared} ({self.precision:.2f}), recall '
                f'{self.correct}/{self.successes} ({self.recall:.2f}) on {self.episodes} '
                f'held-out episodes; target precision {self.target_precision:.2f} {state}')


def calibrate(probs: Sequence[np.ndarray], labels: Sequence[np.ndarray],
              target_precision: float = 0.9, frames: int = SUCCESS_FRAMES,
              candidates: int = 200, floor: float = 0.5) -> Calibration:
    """The lowest threshold >= `floor` whose episode precision is >= target_precision (see
    the module doc).

    Thresholds are tried at `floor` and the quantiles of the held-out probabilities above it. If
    none reaches the target, the one with the highest precision (then recall) is returned with
    `met` False; if nothing is ever declared, `floor`.
    """
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f'calibrate: target_precision: expected in (0, 1], '
                         f'got {target_precision}')
    if frames < 1:
        raise ValueError(f'calibrate: frames: expected >= 1, got {frames}')
    flat = np.concatenate([np.asarray(p, np.float64) for p in probs]) if len(probs) else \
        np.zeros(0)
    grid = np.quantile(flat, np.linspace(0, 1, candidates + 1)) if len(flat) else np.zeros(0)
    # A threshold just below each grid value lets that value itself count as "above".
    grid = np.concatenate([grid, np.nextafter(grid, -np.inf)])
    grid = np.unique(np.clip(np.concatenate([grid[grid > floor], [floor]]), 1e-6, 1 - 1e-6))
    best: tuple[tuple, float, EpisodeCounts] | None = None
    for t in grid:  # ascending: the first that meets the target finds the most successes
        c = count_episodes(probs, labels, float(t), frames)
        if c.declared == 0:
            continue
        if c.precision >= target_precision:
            return _calibration(float(t), frames, target_precision, True, c)
        key = (c.precision, c.correct, t)
        if best is None or key > best[0]:
            best = (key, float(t), c)
    if best is None:
        return _calibration(floor, frames, target_precision, False,
                            count_episodes(probs, labels, floor, frames))
    return _calibration(best[1], frames, target_precision, False, best[2])


def _calibration(t: float, frames: int, target: float, met: bool, c: EpisodeCounts
                 ) -> Calibration:
    return Calibration(t, frames, target, met, c.episodes, c.declared, c.correct, c.successes,
                       c.precision, c.recall)
