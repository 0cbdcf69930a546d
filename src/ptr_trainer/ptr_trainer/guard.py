"""Regression guard: never leave a worse policy deployed without saying so and undoing it.

Uses only what a real robot has: the success classifier's verdict on each online episode and the
weights version that acted in it (the episode manager records both). The running success over
the last `window` episodes is compared with the best window seen so far; when it falls more than
`drop` below it, the guard asks the trainer to restore the agent saved when the best window
ended and to publish it again as a new version. Every decision is a one-line reason string.

Why a window and not per-version rates: a version acts for one or two episodes, far too few to
judge it; a window of several episodes spans a few versions and its rate moves slowly enough
that a drop of `drop` (0.3 at window 8: three successes fewer) is unlikely to be noise alone
(binomial sd at p = 0.5 and n = 8 is 0.18).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass
class GuardConfig:
    enabled: bool = True
    window: int = 8  # episodes in the running success estimate
    drop: float = 0.3  # roll back when the window rate is this far below the best window


@dataclass(frozen=True)
class Rollback:
    to_version: int  # the version whose agent state comes back
    reason: str


class RegressionGuard:
    """Feed it (version, classifier success) per episode; it says when to roll back."""

    def __init__(self, cfg: GuardConfig) -> None:
        if cfg.window < 1 or not 0.0 < cfg.drop <= 1.0:
            raise ValueError(f'guard: expected window >= 1 and drop in (0, 1], got '
                             f'{cfg.window}, {cfg.drop}')
        self.cfg = cfg
        self.recent: deque[tuple[int, bool]] = deque(maxlen=cfg.window)
        self.best_rate = -1.0
        self.best_version = 0
        self.log: list[str] = []

    @property
    def rate(self) -> float | None:
        """Classifier success over the last `window` episodes (None until the window is full)."""
        if len(self.recent) < self.cfg.window:
            return None
        return sum(ok for _, ok in self.recent) / len(self.recent)

    def record(self, version: int, success: bool) -> Rollback | None:
        """One finished episode acted by `version`; a Rollback when the estimate collapsed."""
        self.recent.append((int(version), bool(success)))
        rate = self.rate
        if rate is None or not self.cfg.enabled:
            return None
        if rate >= self.best_rate:
            if rate > self.best_rate or version != self.best_version:
                self.log.append(f'best: v{version} with window success {rate:.2f} '
                                f'(was v{self.best_version} {max(self.best_rate, 0):.2f})')
            self.best_rate, self.best_version = rate, int(version)
            return None
        if rate < self.best_rate - self.cfg.drop:
            reason = (f'rollback to v{self.best_version}: window success {rate:.2f} over the '
                      f'last {len(self.recent)} episodes is more than {self.cfg.drop:.2f} below '
                      f'the best {self.best_rate:.2f}')
            self.log.append(reason)
            self.recent.clear()  # judge the restored policy on its own episodes
            return Rollback(self.best_version, reason)
        return None

    def state(self) -> dict:
        return {'rate': self.rate, 'best_rate': self.best_rate,
                'best_version': self.best_version, 'events': self.log[-5:]}
