"""Episode bookkeeping for online fine-tuning, without ROS.

EpisodeRecorder keeps one episode's observations, actions and classifier rewards keyed by the
observation stamp (the bridges stamp the image, tag the state and the policy tags its action with
the stamp of the observation it saw; the reward node reports the stamp it labeled). Transition t is
complete once the action for obs t, obs t+1 and the reward of obs t+1 are all in, whatever order
DDS delivered them in.

EpisodeManager decides when an episode ends (PTR V-F): the classifier says success (terminal), the
horizon is reached (timeout: not terminal), the environment says it is over (sim), or nothing moves
for a while (stalled). It also tracks the phases around the reset: running -> ending -> resetting
-> running, or paused when the reset escalated, or done after `max_episodes`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ptr_core.constants import SUCCESS_FRAMES
from ptr_core.data import Trajectory

END_REASONS = ('success', 'timeout', 'env_done', 'stalled', 'incomplete')


def unconnected_inputs(counts: dict[str, tuple[int, int]]) -> list[str]:
    """The recorded topics an episode may not start without: {topic: (matched, discovered)}.

    A topic is ready once it has a publisher and every publisher the graph knows of is matched
    to our subscription. DDS discovery is asynchronous and per endpoint (a service answering
    says nothing about a topic): on a cold CI machine the sim stepped on labels the reward node
    sent before our subscription had matched it, and the first episode ended 'incomplete'
    after 0 steps with no reward recorded.
    """
    return [topic for topic, (matched, discovered) in counts.items()
            if matched < 1 or matched < discovered]


@dataclass
class ManagerConfig:
    """When episodes end and how many to run."""

    horizon: int = 40  # transitions before a timeout (8 s at 5 Hz); 0: the env's own end
    end_on_success: bool = True  # end at the first classifier success (terminal transition)
    # A success counts once the classifier rewarded this many consecutive frames (the rule its
    # threshold is calibrated for: ptr_reward.calibration); the episode ends at the last of them.
    success_frames: int = SUCCESS_FRAMES
    stall_timeout: float = 10.0  # seconds without a new observation that end an episode
    max_episodes: int = 0  # stop after this many episodes (0: run until stopped)
    min_length: int = 1  # shorter episodes are dropped, not sent to the trainer
    max_gap: int = 10  # observations past a transition that never completes (a lost reward or
    # action) before the episode is cut there ('incomplete') instead of waiting forever

    def validate(self) -> 'ManagerConfig':
        if (self.horizon < 0 or self.stall_timeout <= 0 or self.max_episodes < 0
                or self.success_frames < 1):
            raise ValueError(f'episode manager config: expected horizon >= 0, '
                             f'stall_timeout > 0, max_episodes >= 0, success_frames >= 1, '
                             f'got {self}')
        return self


class EpisodeRecorder:
    """One episode's data by observation stamp (see the module docstring)."""

    def __init__(self) -> None:
        self.stamps: list[int] = []
        self.images: dict[int, np.ndarray] = {}
        self.states: dict[int, np.ndarray] = {}
        self.actions: dict[int, np.ndarray] = {}
        self.rewards: dict[int, float] = {}
        self.probs: dict[int, float] = {}
        self.sim_success: dict[int, bool] = {}

    def add_observation(self, stamp: int, image: np.ndarray, state: np.ndarray) -> bool:
        """Append an observation; a resend (same stamp) or an older one is ignored."""
        if self.stamps and stamp <= self.stamps[-1]:
            return False
        self.stamps.append(int(stamp))
        self.images[stamp], self.states[stamp] = image, np.asarray(state, np.float32)
        return True

    def add_action(self, stamp: int | None, action: np.ndarray) -> bool:
        """Record the action taken at obs `stamp` (None: untagged, the newest obs); first wins.

        The action may arrive before its observation (different topics): it is kept by stamp.
        """
        if stamp is None:
            if not self.stamps:
                return False
            stamp = self.stamps[-1]
        if stamp in self.actions or (self.stamps and stamp < self.stamps[0]):
            return False  # duplicate, or from before this episode (an action may arrive first)
        self.actions[stamp] = np.asarray(action, np.float32)
        return True

    def drop_before(self, stamp: int) -> None:
        """Forget observations older than `stamp` (e.g. a resend of the previous episode)."""
        keep = [x for x in self.stamps if x >= stamp]
        for x in self.stamps[:len(self.stamps) - len(keep)]:
            self.images.pop(x, None)
            self.states.pop(x, None)
        self.stamps = keep

    def add_reward(self, stamp: int, reward: float, prob: float = float('nan')) -> None:
        self.rewards[int(stamp)], self.probs[int(stamp)] = float(reward), float(prob)

    def complete_length(self) -> int:
        """T such that transitions 0..T-1 are complete (action, next obs, next reward)."""
        t = 0
        while (t + 1 < len(self.stamps) and self.stamps[t] in self.actions
               and self.stamps[t + 1] in self.rewards):
            t += 1
        return t

    def first_success(self, upto: int, frames: int = 1) -> int | None:
        """The first transition t < upto whose next observation ends a run of `frames`
        consecutive rewarded observations (after the first: a start is never a success)."""
        run = 0
        for t in range(upto):
            run = run + 1 if self.rewards[self.stamps[t + 1]] > 0 else 0
            if run >= frames:
                return t
        return None

    def build(self, length: int, task: str, success: bool, meta: dict[str, Any]) -> Trajectory:
        """The first `length` transitions as a Trajectory (rewards = classifier rewards)."""
        s = self.stamps[:length + 1]
        rewards = np.array([self.rewards[x] for x in s[1:]], np.float32)
        terminals = np.zeros(length, bool)
        if success:
            terminals[-1] = True
        meta = dict(meta, probs=[round(self.probs[x], 4) for x in s[1:]],
                    sim_success=any(self.sim_success.get(x, False) for x in s[1:]),
                    stamps=[s[0], s[-1]])
        return Trajectory.from_arrays(np.stack([self.images[x] for x in s]),
                                      np.stack([self.states[x] for x in s]),
                                      np.clip(np.stack([self.actions[x] for x in s[:-1]]), -1, 1),
                                      rewards, terminals, task=task, success=success, meta=meta)


class EpisodeManager:
    """Phases and end decisions; the node performs the service calls the phases ask for."""

    def __init__(self, cfg: ManagerConfig, task: str) -> None:
        self.cfg = cfg.validate()
        self.task = task
        self.phase = 'idle'  # idle | running | ending | paused | done
        self.episode = 0  # episodes started
        self.finished = 0  # episodes handed to the trainer
        self.env_steps = 0  # transitions of the finished episodes
        self.rec = EpisodeRecorder()
        self.env_done_stamp: int | None = None
        self.history: list[dict[str, Any]] = []  # one summary per finished episode
        self.pause_reason = ''

    # ---- inputs ---------------------------------------------------------------------------
    def start(self) -> None:
        self.rec = EpisodeRecorder()
        self.env_done_stamp = None
        self.episode += 1
        self.phase = 'running'

    def set_start_stamp(self, stamp: int) -> None:
        """The episode's first observation has this stamp or later (robot/reset's answer)."""
        self.rec.drop_before(stamp)

    def on_observation(self, stamp: int, image: np.ndarray, state: np.ndarray) -> bool:
        return self.phase == 'running' and self.rec.add_observation(stamp, image, state)

    def on_action(self, stamp: int | None, action: np.ndarray) -> bool:
        return self.phase == 'running' and self.rec.add_action(stamp, action)

    def on_reward(self, stamp: int, reward: float, prob: float = float('nan')) -> None:
        if self.phase == 'running':
            self.rec.add_reward(stamp, reward, prob)

    def on_env_status(self, stamp: int, success: bool, done: bool) -> None:
        """Privileged sim feedback: true success (for metrics) and the env's own episode end."""
        if self.phase != 'running':
            return
        self.rec.sim_success[int(stamp)] = bool(success)
        if done:
            self.env_done_stamp = int(stamp)

    # ---- decisions ------------------------------------------------------------------------
    def end_reason(self) -> tuple[str, int] | None:
        """(reason, length) when the episode is over, else None."""
        if self.phase != 'running':
            return None
        t = self.rec.complete_length()
        if self.cfg.end_on_success:
            s = self.rec.first_success(t, self.cfg.success_frames)
            if s is not None:
                return 'success', s + 1
        if self.cfg.horizon and t >= self.cfg.horizon:
            return 'timeout', self.cfg.horizon
        if len(self.rec.stamps) - 1 - t > self.cfg.max_gap:
            return 'incomplete', t
        if self.env_done_stamp is not None and self.env_done_stamp in self.rec.stamps:
            k = self.rec.stamps.index(self.env_done_stamp)
            if t >= k:  # every transition up to the env's last observation is complete
                return 'env_done', k
        return None

    def finish(self, reason: str, length: int, meta: dict[str, Any] | None = None
               ) -> Trajectory | None:
        """End the running episode; the Trajectory to send, or None when it is too short."""
        if reason not in END_REASONS:
            raise ValueError(f'end reason: expected one of {END_REASONS}, got {reason!r}')
        self.phase = 'ending'
        length = min(length, self.rec.complete_length())
        success = reason == 'success'
        summary = {'episode': self.episode, 'reason': reason, 'length': length,
                   'success': success, 'env_steps_before': self.env_steps}
        if length < self.cfg.min_length:
            self.history.append(summary | {'sent': False, 'sim_success': False})
            return None
        traj = self.rec.build(length, self.task, success,
                              dict(meta or {}, episode=self.episode, end=reason))
        self.finished += 1
        self.env_steps += length
        self.history.append(summary | {'sent': True,
                                       'sim_success': bool(traj.meta['sim_success'])})
        return traj

    def stalled_length(self) -> int:
        return self.rec.complete_length()

    def after_reset(self, ok: bool, message: str = '') -> str:
        """Next phase after ptr/reset_scene: 'running' soon, 'paused', or 'done'."""
        if not ok:
            self.phase, self.pause_reason = 'paused', message
        elif self.cfg.max_episodes and self.episode >= self.cfg.max_episodes:
            self.phase = 'done'
        else:
            self.phase = 'idle'  # the node calls robot/reset, then start()
        return self.phase

    def resume(self) -> bool:
        """A person fixed the scene (ptr/resume): continue with the next episode."""
        if self.phase != 'paused':
            return False
        self.phase, self.pause_reason = 'idle', ''
        return True
