"""Regression guard: never leave a worse policy deployed without saying so and undoing it.

Uses only what a real robot has: the success classifier's verdict on each online episode and the
weights version that acted in it (the episode manager records both). The running success over
the last `window` episodes is compared with the best window seen so far; when it falls more than
`drop` below it, the guard asks the trainer to restore the agent saved when the best window
ended and to publish it again as a new version. Every decision is a one-line reason string.

Why a window and not per-version rates: a version acts for one or two episodes, far too few to
judge it; a window of several episodes spans a few versions.
Why a significance test on top of `drop`: the best window is the maximum of many noisy windows,
so a steady policy keeps falling short of it: a steady 20 % policy shows 0/6 in a quarter of
all windows (0.8^6), and each rollback throws away the updates since. A rollback therefore
also needs the one-sided Fisher test of best window > recent window at p < `significance`
(window 6: 4/6 -> 0/6 rolls back, p = 0.03; 2/6 -> 0/6 does not, p = 0.23).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ptr_core.stats import fisher_greater


@dataclass
class GuardConfig:
    """When the regression guard rolls the agent back."""

    enabled: bool = True
    window: int = 8  # episodes in the running success estimate
    drop: float = 0.3  # roll back when the window rate is this far below the best window ...
    significance: float = 0.05  # ... and best > recent by a one-sided Fisher test at this p


@dataclass(frozen=True)
class Rollback:
    """A decided rollback: the version to restore and why."""

    to_version: int  # the version whose agent state comes back
    reason: str


class RegressionGuard:
    """Feed it (version, classifier success) per episode; it says when to roll back."""

    def __init__(self, cfg: GuardConfig) -> None:
        if cfg.window < 1 or not 0.0 < cfg.drop <= 1.0 or not 0.0 < cfg.significance <= 1.0:
            raise ValueError(f'guard: expected window >= 1, drop and significance in (0, 1], '
                             f'got {cfg.window}, {cfg.drop}, {cfg.significance}')
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
        n = len(self.recent)
        p = fisher_greater(round(self.best_rate * n), n, round(rate * n), n)
        if rate < self.best_rate - self.cfg.drop and p < self.cfg.significance:
            reason = (f'rollback to v{self.best_version}: window success {rate:.2f} over the '
                      f'last {n} episodes is more than {self.cfg.drop:.2f} below the best '
                      f'{self.best_rate:.2f} (one-sided Fisher p={p:.2g})')
            self.log.append(reason)
            self.recent.clear()  # judge the restored policy on its own episodes
            return Rollback(self.best_version, reason)
        return None

    def state(self) -> dict:
        return {'rate': self.rate, 'best_rate': self.best_rate,
                'best_version': self.best_version, 'events': self.log[-5:]}
