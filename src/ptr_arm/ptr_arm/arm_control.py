"""Bridge-style end-effector delta control of the real WidowX 250, independent of its driver.

Pure (numpy and threads; no rclpy, no interbotix): the arm bridge node wraps the Interbotix API in
an `ArmHardware` adapter and the tests pass a stand-in, so every decision below is tested without
an arm.

Decisions, and why:
- The previous *target* pose accumulates the deltas, not the measured pose (as Bridge's robot code
  does): a zero action then holds still instead of drifting by the tracking error and gravity sag.
- IK: the arm's own solver plans (`set_ee_pose_components(..., execute=False)`, seeded with the
  last good joints so it stays on the same branch) and we check the answer before anything moves:
  joint limits less a margin, and the largest joint change of one step (a larger one means the
  solver jumped to another branch). Only then `set_joint_positions(..., blocking=False)` sends it.
  Executing in the planning call would send before our checks; our own PoE IK would duplicate the
  driver's model of the arm. Both use the same published PoE model (ptr_core.kinematics).
- Refused steps (IK failed, a limit, a slow or failing command) hold: nothing is sent and the last
  good target stays, so the next delta starts from where the arm was last sent.
- Each hardware command runs on its own daemon thread with a deadline: a driver call that hangs
  costs a held step (counted), never the 5 Hz loop; while it has not returned, further commands
  are skipped rather than queued behind it.
- The gripper is absolute in [0, 1] (1 open); grasp()/release() are sent only when the command
  crosses a threshold with hysteresis, since the real gripper is effort-driven (no position).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from ptr_core.constants import (
    ACTION_DIM,
    HOME_RPY,
    HOME_XYZ,
    RPY_HIGH,
    RPY_LOW,
    WS_HIGH,
    WS_LOW,
    denormalize_action,
)
from ptr_core.kinematics import ARM_JOINTS, pose_to_xyzrpy, wx250s_fk, wx250s_ik, xyzrpy_to_pose

# IK seed of the home configuration (elbow up, wrist pitched down), the sim arm's too.
HOME_SEED = np.array([0.0, -0.3, 0.3, 0.0, 1.2, 0.0])


def _floats(a: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in a)


class ArmHardware(Protocol):
    """What the controller needs from an arm driver (the Interbotix adapter, a test stand-in)."""

    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]: ...

    def plan(self, pose: np.ndarray, guess: np.ndarray | None) -> tuple[np.ndarray, bool]: ...

    def send_joints(self, joints: np.ndarray, moving_time: float, accel_time: float,
                    blocking: bool) -> bool: ...

    def set_timing(self, moving_time: float, accel_time: float) -> None: ...

    def grasp(self) -> None: ...

    def release(self) -> None: ...

    def sleep(self, moving_time: float, accel_time: float) -> None: ...

    def joint_positions(self) -> np.ndarray: ...

    def gripper_opening(self) -> float: ...


@dataclass
class ArmConfig:
    """How the real arm follows end-effector deltas (every field is an arm_bridge parameter)."""

    # Box the target pose is clipped to (base frame, m) and its orientation bounds (rad).
    workspace_low: tuple[float, float, float] = _floats(WS_LOW)
    workspace_high: tuple[float, float, float] = _floats(WS_HIGH)
    rpy_low: tuple[float, float, float] = _floats(RPY_LOW)
    rpy_high: tuple[float, float, float] = _floats(RPY_HIGH)
    home_xyz: tuple[float, float, float] = _floats(HOME_XYZ)  # robot/reset's pose (the sim's)
    home_rpy: tuple[float, float, float] = _floats(HOME_RPY)
    moving_time: float = 0.2  # s the motors take for one step's move (one 5 Hz period)
    accel_time: float = 0.05  # s of it spent accelerating / decelerating (<= moving_time / 2)
    reset_moving_time: float = 2.0  # s for the move home and to the sleep pose
    reset_accel_time: float = 0.3
    command_timeout: float = 0.1  # s one hardware command of a step may take before it holds
    reset_timeout: float = 5.0  # s one command of a reset may take (the move home blocks)
    joint_margin: float = 0.02  # rad kept inside every joint limit
    max_joint_step: float = 0.5  # rad: a larger change of any joint in one step is refused
    grasp_below: float = 0.4  # gripper commands below close it ...
    release_above: float = 0.6  # ... above open it; in between nothing changes (hysteresis)
    gripper_delay: float = 0.0  # s grasp()/release() wait; 0 so the 5 Hz loop never blocks
    gripper_pressure: float = 0.5  # grasp effort, fraction of the driver's pressure range
    dry_run: bool = False  # plan and check every step but send nothing (a first run on an arm)

    def validate(self) -> 'ArmConfig':
        for name in ('workspace', 'rpy'):
            lo = np.asarray(getattr(self, f'{name}_low'), float)
            hi = np.asarray(getattr(self, f'{name}_high'), float)
            if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi):
                raise ValueError(f'arm: {name}_low/_high: expected 3 values each with low < '
                                 f'high, got {lo.tolist()} .. {hi.tolist()}')
        for t, a in ((self.moving_time, self.accel_time),
                     (self.reset_moving_time, self.reset_accel_time)):
            if not (t > 0 and 0 <= a <= t / 2):
                raise ValueError(f'arm: expected moving_time > 0 and 0 <= accel_time <= '
                                 f'moving_time / 2, got {t:g} and {a:g}')
        if self.command_timeout <= 0 or self.max_joint_step <= 0 or self.joint_margin < 0 or \
                self.reset_timeout <= self.reset_moving_time:
            raise ValueError('arm: expected positive command_timeout and max_joint_step, '
                             'joint_margin >= 0 and reset_timeout > reset_moving_time')
        if not 0.0 <= self.grasp_below < self.release_above <= 1.0:
            raise ValueError(f'arm: expected 0 <= grasp_below < release_above <= 1, got '
                             f'{self.grasp_below:g}, {self.release_above:g}')
        return self

    def home_pose(self) -> np.ndarray:
        return np.array(self.home_xyz + self.home_rpy, dtype=float)


def clip_target(pose: np.ndarray, cfg: ArmConfig) -> np.ndarray:
    """[x, y, z, roll, pitch, yaw] clipped to the workspace box and the orientation bounds."""
    low = np.array(cfg.workspace_low + cfg.rpy_low, dtype=float)
    high = np.array(cfg.workspace_high + cfg.rpy_high, dtype=float)
    return np.clip(np.asarray(pose, float), low, high)


def state_from_joints(joints: np.ndarray, gripper: float) -> np.ndarray:
    """The 7-d state [x, y, z, roll, pitch, yaw, gripper] of measured joints, by the sim's FK."""
    pose = pose_to_xyzrpy(wx250s_fk(np.asarray(joints, float)))
    g = float(np.clip(gripper, 0.0, 1.0))
    return np.concatenate([pose, [g]]).astype(np.float32)


def home_joints(cfg: ArmConfig) -> np.ndarray:
    """Our PoE IK of the home pose from HOME_SEED: the guess the driver's IK starts from."""
    q, _ = wx250s_ik(xyzrpy_to_pose(cfg.home_pose()), HOME_SEED, iterations=50)
    return q


def limit_violation(q: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> str:
    """'' when every joint is inside [lower, upper], else which joint is out and by how much."""
    for i, (v, lo, hi) in enumerate(zip(q, lower, upper)):
        if not lo <= v <= hi:
            name = ARM_JOINTS[i] if i < len(ARM_JOINTS) else f'joint {i}'
            return f'joint limit: {name} {v:+.3f} rad outside [{lo:+.3f}, {hi:+.3f}]'
    return ''


class GripperLatch:
    """Absolute gripper command -> 'grasp' / 'release' only when it crosses a threshold."""

    def __init__(self, grasp_below: float, release_above: float) -> None:
        self.grasp_below, self.release_above = grasp_below, release_above
        self.closed: bool | None = None  # unknown until the first command is sent

    def wanted(self, command: float) -> str | None:
        """The call to make for `command` (None: nothing changes); `done()` records it sent."""
        if command < self.grasp_below and self.closed is not True:
            return 'grasp'
        if command > self.release_above and self.closed is not False:
            return 'release'
        return None

    def done(self, call: str) -> None:
        self.closed = call == 'grasp'


class CommandFailed(RuntimeError):
    """A hardware command timed out, raised, or was skipped behind one that has not returned."""


class TimedCalls:
    """Runs each hardware call on a daemon thread and waits at most its timeout for it."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self._stuck: threading.Thread | None = None

    def __call__(self, name: str, timeout: float, fn: Callable[..., Any], *args: Any) -> Any:
        if self._stuck is not None and self._stuck.is_alive():
            self.counts['busy'] += 1
            raise CommandFailed(f'{name}: skipped, an earlier command has not returned')
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box['value'] = fn(*args)
            except Exception as e:  # noqa: BLE001 - reported to the caller as CommandFailed
                box['error'] = e

        worker = threading.Thread(target=call, name=f'arm-{name}', daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            self._stuck = worker
            self.counts['timeouts'] += 1
            raise CommandFailed(f'{name}: no return within {timeout:g} s')
        if 'error' in box:
            self.counts['errors'] += 1
            raise CommandFailed(f'{name}: {type(box["error"]).__name__}: {box["error"]}')
        return box.get('value')


@dataclass
class StepReport:
    """What one step or reset did: `moved` when joints were sent; `reason` says why not."""

    moved: bool
    reason: str = ''
    target: np.ndarray = field(default_factory=lambda: np.zeros(6))


COUNTS = ('steps', 'moves', 'holds', 'bad_actions', 'ik_failures', 'limit_refusals',
          'jump_refusals', 'send_refusals', 'timeouts', 'errors', 'busy', 'gripper_commands',
          'resets', 'reset_failures')


class ArmController:
    """Target pose, IK check, send, gripper latch and state for one arm (see the module doc)."""

    def __init__(self, hw: ArmHardware, cfg: ArmConfig) -> None:
        self.hw, self.cfg = hw, cfg.validate()
        self.counts = dict.fromkeys(COUNTS, 0)
        self.calls = TimedCalls(self.counts)
        lower, upper = hw.joint_limits()
        self.lower = np.asarray(lower, float) + cfg.joint_margin
        self.upper = np.asarray(upper, float) - cfg.joint_margin
        self.latch = GripperLatch(cfg.grasp_below, cfg.release_above)
        self.home_q = home_joints(cfg)
        self.joints: np.ndarray | None = None  # the last joints sent (None: none yet)
        self.target = cfg.home_pose()
        self.sync_to_measured()

    def sync_to_measured(self) -> None:
        """Start from where the arm is (target clipped to the box) until a reset sends it home."""
        try:
            q = np.asarray(self.hw.joint_positions(), float)
        except Exception:  # noqa: BLE001 - no reading yet: keep home as the target
            self.counts['errors'] += 1
            return
        self.target = clip_target(state_from_joints(q, 1.0)[:6], self.cfg)
        self.joints = q

    def step(self, action: np.ndarray) -> StepReport:
        """Apply one normalized 7-d action: gripper latch, then the arm (or a hold)."""
        self.counts['steps'] += 1
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (ACTION_DIM,) or not np.all(np.isfinite(a)):
            return self._hold('bad_actions', f'action: expected {ACTION_DIM} finite floats')
        d = denormalize_action(a).astype(np.float64)
        gripper = self._gripper(float(d[6]))
        target = clip_target(self.target + d[:6], self.cfg)
        if np.array_equal(target, self.target):  # nothing to move (a hold, or at the wall)
            return StepReport(False, gripper, self.target.copy())
        report = self._move(target)
        if gripper and not report.reason:
            report.reason = gripper
        return report

    def hold_action(self) -> np.ndarray:
        """The normalized action that changes nothing: zero deltas and the gripper as the latch
        has it. Not as measured (ptr_core.safety.hold_action, right for a position-controlled
        gripper): fingers closed on a thick object read open, and that would let it go."""
        g = {True: 0.0, False: 1.0, None: (self.cfg.grasp_below + self.cfg.release_above) / 2}
        a = np.zeros(ACTION_DIM, dtype=np.float32)
        a[6] = 2.0 * g[self.latch.closed] - 1.0
        return a

    def _move(self, target: np.ndarray) -> StepReport:
        cfg = self.cfg
        try:
            q, ok = self.calls('plan', cfg.command_timeout, self.hw.plan, target, self.joints)
        except CommandFailed as e:
            return self._hold(None, str(e))
        if not ok:
            return self._hold('ik_failures', f'IK: no solution for {np.round(target, 3)}')
        q = np.asarray(q, float)
        bad = limit_violation(q, self.lower, self.upper)
        if bad:
            return self._hold('limit_refusals', bad)
        if self.joints is not None:
            jump = float(np.max(np.abs(q - self.joints)))
            if jump > cfg.max_joint_step:
                return self._hold('jump_refusals', f'joint step {jump:.3f} rad > max_joint_step '
                                  f'{cfg.max_joint_step:g} (an IK branch change, or the arm is '
                                  f'far from its target: call robot/reset)')
        if not cfg.dry_run:
            try:
                sent = self.calls('send', cfg.command_timeout, self.hw.send_joints, q,
                                  cfg.moving_time, cfg.accel_time, False)
            except CommandFailed as e:
                return self._hold(None, str(e))
            if not sent:
                return self._hold('send_refusals', 'the driver refused the joints')
        self.target, self.joints = target, q
        self.counts['moves'] += 1
        return StepReport(True, '', target.copy())

    def _hold(self, count: str | None, reason: str) -> StepReport:
        self.counts['holds'] += 1
        if count is not None:
            self.counts[count] += 1
        return StepReport(False, reason, self.target.copy())

    def _gripper(self, command: float) -> str:
        """Send grasp/release when the latch says so; '' or why it could not be sent."""
        call = self.latch.wanted(command)
        if call is None:
            return ''
        if not self.cfg.dry_run:
            try:
                self.calls(call, self.cfg.command_timeout, getattr(self.hw, call))
            except CommandFailed as e:
                return str(e)  # the latch is unchanged: the next step tries again
        self.latch.done(call)
        self.counts['gripper_commands'] += 1
        return ''

    def reset(self) -> StepReport:
        """Open the gripper and move home slowly (blocking); the target becomes home."""
        cfg, home = self.cfg, self.cfg.home_pose()
        q = self.home_q
        try:
            if not cfg.dry_run:
                self.calls('release', cfg.reset_timeout, self.hw.release)
                self.calls('set_timing', cfg.reset_timeout, self.hw.set_timing,
                           cfg.reset_moving_time, cfg.reset_accel_time)
            q, ok = self.calls('plan', cfg.reset_timeout, self.hw.plan, home, self.home_q)
            q = np.asarray(q, float)
            why = '' if ok else f'IK: no solution for home {np.round(home, 3)}'
            why = why or limit_violation(q, self.lower, self.upper)
            if not why and not cfg.dry_run:
                sent = self.calls('send', cfg.reset_timeout, self.hw.send_joints, q,
                                  cfg.reset_moving_time, cfg.reset_accel_time, True)
                why = '' if sent else 'the driver refused the home joints'
            if not cfg.dry_run:
                self.calls('set_timing', cfg.reset_timeout, self.hw.set_timing,
                           cfg.moving_time, cfg.accel_time)
        except CommandFailed as e:
            why = str(e)
        if why:
            self.counts['reset_failures'] += 1
            return StepReport(False, f'reset: {why}', self.target.copy())
        self.latch.done('release')
        self.target, self.joints = home, q
        self.counts['resets'] += 1
        return StepReport(True, '', home.copy())

    def park(self) -> str:
        """The sleep pose (before the driver shuts down); '' or why it failed."""
        if self.cfg.dry_run:
            return ''
        try:
            self.calls('sleep', self.cfg.reset_timeout, self.hw.sleep,
                       self.cfg.reset_moving_time, self.cfg.reset_accel_time)
        except CommandFailed as e:
            return str(e)
        return ''

    def state(self) -> np.ndarray | None:
        """The measured 7-d state (None when the driver cannot say: counted as an error)."""
        try:
            q = np.asarray(self.hw.joint_positions(), float)
            g = float(self.hw.gripper_opening())
        except Exception:  # noqa: BLE001 - a driver hiccup must not stop the bridge
            self.counts['errors'] += 1
            return None
        return state_from_joints(q, g)
