"""Teleoperation without ROS: keys (or a SpaceMouse) -> the 7-d normalized action, and the
operator's episode commands.

Why accumulate per control step: a held key repeats ~30 times a second in a terminal but the
robot acts at 5 Hz, so every press since the last step counts `step_size` on its axis (clipped
to the action range): tapping nudges, holding moves at full speed, releasing stops at once (a
step with no press is a zero delta: the arm holds). The gripper is absolute, as in the data
(DESIGN.md s4): it stays where the operator last put it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ptr_core.constants import ACTION_DIM

# key -> (action axis, sign); axes 0-2 translate x y z, 3-5 rotate roll pitch yaw.
MOTION_KEYS: dict[str, tuple[int, float]] = {
    'w': (0, +1.0), 's': (0, -1.0),  # forward / back (x)
    'a': (1, +1.0), 'd': (1, -1.0),  # left / right (y)
    'r': (2, +1.0), 'f': (2, -1.0),  # up / down (z)
    'u': (3, +1.0), 'o': (3, -1.0),  # roll
    'i': (4, +1.0), 'k': (4, -1.0),  # pitch
    'j': (5, +1.0), 'l': (5, -1.0),  # yaw
}
GRIPPER_KEYS: dict[str, float] = {'c': 0.0, 'v': 1.0}  # close / open (absolute)
# Episode commands: what the operator does between and at the end of demonstrations.
COMMAND_KEYS: dict[str, str] = {
    'n': 'start',  # reset the scene and start recording an episode
    '1': 'success',  # end the episode, mark it a success, keep it
    '0': 'failure',  # end the episode, mark it a failure, keep it
    'x': 'discard',  # end the episode and throw the recording away
    'q': 'quit',
    '\x1b': 'quit',  # Esc
    '\x03': 'quit',  # Ctrl-C while the terminal is in cbreak mode
}
AXIS_NAMES = ('x', 'y', 'z', 'roll', 'pitch', 'yaw')


def key_map_text() -> str:
    """The key map as the operator sees it at start."""
    lines = ['keys (5 Hz; hold a key to keep moving):']
    for axis, name in enumerate(AXIS_NAMES):
        plus = next(k for k, (a, s) in MOTION_KEYS.items() if a == axis and s > 0)
        minus = next(k for k, (a, s) in MOTION_KEYS.items() if a == axis and s < 0)
        lines.append(f'  {plus}/{minus}  {name} +/-')
    lines += ['  c/v  gripper close/open',
              '  n    new episode (resets the scene, starts recording)',
              '  1    end: success      0  end: failure      x  end: discard',
              '  q    quit (Esc, Ctrl-C too)']
    return '\n'.join(lines)


@dataclass
class TeleopConfig:
    """How keys become actions (normalized units: 1.0 is the largest delta per step)."""

    step_size: float = 0.5
    """Normalized delta per key press; presses within one control step add up (clipped to 1)."""
    spacemouse_scale: float = 1.0
    """SpaceMouse deflection (-1..1) -> normalized delta."""
    spacemouse_deadzone: float = 0.1
    """Deflections below this are zero (the puck never rests exactly at 0)."""


@dataclass
class Mixer:
    """Collects the inputs between two control steps and turns them into one action."""

    cfg: TeleopConfig = field(default_factory=TeleopConfig)
    gripper: float = 1.0  # open, as every episode starts
    _delta: np.ndarray = field(default_factory=lambda: np.zeros(6))

    def press(self, key: str) -> bool:
        """A motion or gripper key; False when the key is neither."""
        if key in MOTION_KEYS:
            axis, sign = MOTION_KEYS[key]
            self._delta[axis] += sign * self.cfg.step_size
            return True
        if key in GRIPPER_KEYS:
            self.gripper = GRIPPER_KEYS[key]
            return True
        return False

    def deflect(self, axes: np.ndarray, buttons: tuple[bool, bool] = (False, False)) -> None:
        """A SpaceMouse reading (6 axes in -1..1; left button closes, right opens)."""
        a = np.asarray(axes, float)
        a = np.where(np.abs(a) < self.cfg.spacemouse_deadzone, 0.0, a)
        self._delta += a * self.cfg.spacemouse_scale
        if buttons[0]:
            self.gripper = 0.0
        elif buttons[1]:
            self.gripper = 1.0

    def take(self) -> np.ndarray:
        """The action of this control step; the deltas start again from zero."""
        action = np.empty(ACTION_DIM, np.float32)
        action[:6] = np.clip(self._delta, -1.0, 1.0)
        action[6] = self.gripper
        self._delta[:] = 0.0
        return action

    def reset(self) -> None:
        self._delta[:] = 0.0
        self.gripper = 1.0


@dataclass(frozen=True)
class Episode:
    """The episode being recorded: its number, task and the steps it has taken."""

    number: int
    task: str
    steps: int = 0

    def stepped(self) -> Episode:
        return dataclasses.replace(self, steps=self.steps + 1)


class Session:
    """The operator's episode commands as a state machine: idle <-> recording.

    `command` returns the event to announce ('start', 'success', 'failure', 'discard', 'quit')
    or None when the command means nothing now (ending while idle, starting while recording),
    with `why` saying so.
    """

    def __init__(self, task: str, first: int = 0) -> None:
        self.task = task
        self.next_number = first
        self.episode: Episode | None = None
        self.kept = {'success': 0, 'failure': 0, 'discard': 0}
        self.why = ''

    @property
    def recording(self) -> bool:
        return self.episode is not None

    def command(self, name: str) -> str | None:
        self.why = ''
        if name == 'quit':
            return 'quit'
        if name == 'start':
            if self.recording:
                self.why = 'already recording: end the episode first (1, 0 or x)'
                return None
            self.episode = Episode(self.next_number, self.task)
            self.next_number += 1
            return 'start'
        if name in self.kept:
            if not self.recording:
                self.why = f'{name}: no episode is being recorded (n starts one)'
                return None
            self.kept[name] += 1
            return name
        raise ValueError(f'unknown teleop command {name!r}; expected one of '
                         f'{sorted(set(COMMAND_KEYS.values()))}')

    def cancel(self) -> None:
        """The episode just started never began (no reset, no recorder): nothing was recorded,
        so its number is given to the next one (bags and logs count without holes)."""
        if self.episode is not None and self.episode.number == self.next_number - 1:
            self.next_number -= 1
        self.episode = None

    def ended(self) -> Episode | None:
        """The episode that the last outcome ended (call after an outcome command)."""
        ep, self.episode = self.episode, None
        return ep

    def step(self) -> None:
        if self.episode is not None:
            self.episode = self.episode.stepped()


def status_line(session: Session, action: np.ndarray) -> str:
    """The operator's live line: episode, step, the last action."""
    a = ' '.join(f'{v:+.2f}' for v in action[:6])
    grip = 'open' if action[6] > 0.5 else 'closed'
    if session.episode is None:
        kept = session.kept
        return (f'idle (n: new episode) | kept {kept["success"]} success, {kept["failure"]} '
                f'failure, {kept["discard"]} discarded | action [{a}] gripper {grip}')
    ep = session.episode
    return f'episode {ep.number} ({ep.task}) step {ep.steps} | action [{a}] gripper {grip}'
