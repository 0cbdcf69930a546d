"""Episodes start, and count, only once every node they need has said it is ready.

Each node announces on ptr/ready (contracts.NodeReady, latched) when it has loaded what it
needs: the policy node its checkpoint (with the fingerprint), the reward node its classifier,
the reset node its policy. Before that an evaluation would count the episodes of a robot held
still by the safety filter as failures ("episode 1: failure after 30 steps" before the policy
node had printed its fingerprint). Pure logic, no rclpy: the sim bridge and the episode manager
feed it the announcements they receive.
"""
from __future__ import annotations

from typing import Iterable

# What each part is called on ptr/ready, and which node announces it.
PARTS = {'policy': 'policy_node', 'classifier': 'reward_node', 'reset': 'reset_node'}


def parse_parts(text: str) -> tuple[str, ...]:
    """'policy,classifier' -> ('policy', 'classifier'); an unknown part is a one-line
    ValueError naming the parameter and the known parts."""
    parts = tuple(p.strip() for p in str(text).split(',') if p.strip())
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f'parameter require_ready: expected parts among {sorted(PARTS)}, '
                         f'got {unknown}')
    return parts


class Readiness:
    """Which required parts have announced themselves, and what they said."""

    def __init__(self, required: Iterable[str]) -> None:
        self.required = tuple(required)
        self.said: dict[str, str] = {}

    @property
    def ready(self) -> bool:
        return not self.missing()

    def missing(self) -> list[str]:
        return [p for p in self.required if p not in self.said]

    def report(self, what: str, detail: str) -> bool:
        """Record one announcement; True when it is the one that made every part ready."""
        before = self.ready
        if what in self.required:
            self.said[what] = detail
        return self.ready and not before

    def summary(self) -> str:
        """'policy: fingerprint ab12 v0; classifier: reward.pt' (for the one 'ready' line)."""
        return '; '.join(f'{p}: {self.said[p]}' for p in self.required if p in self.said)


class EvaluationTally:
    """Episode outcomes of an evaluation that restarts episodes itself (the sim bridge's
    auto_reset): only episodes that started with every required part ready are counted."""

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness
        self.counting = readiness.ready  # nothing required: count from the first episode
        self.results: list[bool] = []

    def on_ready(self, steps_taken: int) -> bool:
        """Every part is ready now: counting starts. True when the episode in progress must be
        restarted first (it has taken steps without the policy)."""
        if self.counting:
            return False
        self.counting = True
        return steps_taken > 0

    def on_episode_end(self, success: bool, steps: int) -> str | None:
        """The line to log for a finished episode, or None when it is not counted."""
        if not self.counting:
            return None
        self.results.append(bool(success))
        n = len(self.results)
        return (f'episode {n}: {"success" if success else "failure"} after {steps} steps; '
                f'success {sum(self.results)}/{n}')
