"""Reset logic: run the reset policy until the scene is reset, retry, then escalate.

PTR (V-F, App. F) resets the door between online episodes with a separately trained close-door
policy and a visual classifier. A reset that silently fails would feed the trainer episodes that
start from the wrong state, so after `attempts` failed tries the controller escalates: the caller
pauses the graph and says so, and a person decides. Pure: the robot is reached through callables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

Obs = Any


@dataclass
class ResetConfig:
    """How hard to try before asking for help."""

    max_steps: int = 30  # reset-policy actions per attempt (6 s at 5 Hz)
    attempts: int = 2  # attempts before escalating
    obs_timeout: float = 2.0  # seconds to wait for a fresh observation before giving up

    def validate(self) -> 'ResetConfig':
        if self.max_steps < 1 or self.attempts < 1 or self.obs_timeout <= 0:
            raise ValueError(f'reset config: expected max_steps >= 1, attempts >= 1, '
                             f'obs_timeout > 0, got {self}')
        return self


@dataclass
class ResetResult:
    """How a reset request ended: success, and whether the graph must pause."""

    success: bool
    escalated: bool  # True: every attempt failed; the graph must pause
    attempts: int  # attempts made
    steps: int  # reset actions sent in total
    message: str


class ResetController:
    """`run()` drives: observe -> is_reset? -> act -> observe ..., per attempt, then escalates.

    observe(timeout) -> the next observation newer than the previous one, or None on timeout
    act(obs)         -> compute the reset policy's action for obs and send it
    is_reset(obs)    -> True when the scene is in its reset state (the classifier says so)
    between_attempts() -> optional recovery before a retry (e.g. move the arm home)
    """

    def __init__(self, cfg: ResetConfig, observe: Callable[[float], Optional[Obs]],
                 act: Callable[[Obs], None], is_reset: Callable[[Obs], bool],
                 between_attempts: Callable[[], None] | None = None) -> None:
        self.cfg = cfg.validate()
        self.observe, self.act, self.is_reset = observe, act, is_reset
        self.between_attempts = between_attempts

    def _attempt(self) -> tuple[bool, int, str]:
        obs = self.observe(self.cfg.obs_timeout)
        steps = 0
        while obs is not None:
            if self.is_reset(obs):
                return True, steps, f'reset reached after {steps} steps'
            if steps >= self.cfg.max_steps:
                return False, steps, f'not reset after {steps} steps (timeout)'
            self.act(obs)
            steps += 1
            obs = self.observe(self.cfg.obs_timeout)
        return False, steps, f'no observation within {self.cfg.obs_timeout:.1f} s'

    def run(self) -> ResetResult:
        total, reasons = 0, []
        for attempt in range(1, self.cfg.attempts + 1):
            if attempt > 1 and self.between_attempts is not None:
                self.between_attempts()
            ok, steps, why = self._attempt()
            total += steps
            reasons.append(f'attempt {attempt}: {why}')
            if ok:  # earlier failed attempts stay in the message: a retry is worth a look
                return ResetResult(True, False, attempt, total, '; '.join(reasons))
        return ResetResult(False, True, self.cfg.attempts, total,
                           f'reset failed, escalating (graph paused): {"; ".join(reasons)}')
