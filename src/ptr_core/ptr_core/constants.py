"""Bridge data conventions shared by the sim, the real arm, the learner and the nodes (DESIGN s4).

This is the one place these numbers live; everything else imports them.
"""
from __future__ import annotations

import numpy as np

CONTROL_HZ = 5.0
# How a graph keeps time: 'lockstep' (the sim steps once per action) or 'realtime' (CONTROL_HZ).
CLOCK_MODES = ('lockstep', 'realtime')
# Where sim episodes start (ptr_sim.scene.World.reset): the demos' range, outside it (PTR VI-C's
# out-of-distribution starts), or either per episode (the paper's online starts: 5 of 10).
START_MODES = ('demo', 'ood', 'mixed')
# The residual online mode: the policy node publishes each action's largest correction and its
# bound here ([max |correction|, bound], stamped like the action); the safety filter checks it.
RESIDUAL_TOPIC = 'ptr/residual_correction'
STATE_DIM = 7  # [x, y, z, roll, pitch, yaw, gripper in [0, 1]]
ACTION_DIM = 7  # [dx, dy, dz, droll, dpitch, dyaw, gripper (absolute, [0, 1])]

# Physical bounds of one action, in metres / radians / gripper fraction.
ACTION_LOW = np.array([-0.05, -0.05, -0.05, -0.25, -0.25, -0.25, 0.0], dtype=np.float32)
ACTION_HIGH = np.array([0.05, 0.05, 0.05, 0.25, 0.25, 0.25, 1.0], dtype=np.float32)
# Normalized actions are clipped to this magnitude so tanh policies never need atanh(+-1).
ACTION_CLIP = 0.99


# Input scaling of the proprioceptive state (not a limit): the WidowX 250's end-effector box
# (base frame, m), its orientation range (rad) and the gripper fraction, mapped to [-1, 1] so
# that the state weighs like the tanh image embedding it is concatenated with. Raw, a 2 cm
# difference in x that decides when to hook a handle is 0.02 of input, next to 256 features
# of magnitude ~1 (issue 7: the greedy policy flipped between 0/30 and 30/30 on it).
STATE_LOW = np.array([0.15, -0.30, 0.015, -0.6, 0.7, -1.6, 0.0], dtype=np.float32)
STATE_HIGH = np.array([0.55, 0.30, 0.35, 0.6, 1.45, 1.6, 1.0], dtype=np.float32)

# The WidowX 250's end-effector workspace box (base frame, m), orientation bounds (rad) and home
# pose: one home for the sim arm and the real-arm controller. The box keeps IK well posed and the
# pitch away from the rpy singularity at pi/2.
WS_LOW = np.array([0.15, -0.30, 0.015])
WS_HIGH = np.array([0.55, 0.30, 0.35])
RPY_LOW = np.array([-0.6, 0.7, -1.6])
RPY_HIGH = np.array([0.6, 1.45, 1.6])
HOME_XYZ = np.array([0.28, 0.0, 0.18])
HOME_RPY = np.array([0.0, 1.3, 0.0])


def normalize_action(action: np.ndarray) -> np.ndarray:
    """Physical action -> [-ACTION_CLIP, ACTION_CLIP] (learning space)."""
    a = np.asarray(action, dtype=np.float32)
    scaled = 2.0 * (a - ACTION_LOW) / (ACTION_HIGH - ACTION_LOW) - 1.0
    return np.clip(scaled, -ACTION_CLIP, ACTION_CLIP).astype(np.float32)


def denormalize_action(action: np.ndarray) -> np.ndarray:
    """[-1, 1] action -> physical units, clipped to the bounds."""
    a = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
    return (ACTION_LOW + (a + 1.0) * 0.5 * (ACTION_HIGH - ACTION_LOW)).astype(np.float32)

# An online episode counts as a success only once the reward classifier has said so on this many
# consecutive frames (the episode manager's rule, and the rule the classifier's threshold is
# calibrated for): one lucky frame of a near miss no longer ends an episode as +10.
SUCCESS_FRAMES = 2
