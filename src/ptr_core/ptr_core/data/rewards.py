"""Reward labeling: turn what a trajectory recorded into the rewards/terminals CQL learns from.

Modes (RewardConfig.mode):
- 'last_n' (PTR, Bridge demos): the last n transitions of a successful trajectory get reward 1,
  all others 0; those n positive transitions are also terminal (PTR Appendix D and the official
  code: "use terminals", the +1 states end the episode). A failed trajectory gets 0 everywhere
  and no terminal (its end is a timeout). Bridge demonstrations are all marked successful.
- 'zero' (COG prior data): reward 0 and no terminals: prior data only teaches dynamics.
- 'recorded' (COG task data, sim and online data): the recorded sparse success reward and the
  recorded terminals are kept as they are.
Then r <- r * scale + shift in every mode ((11, -1) for PTR: +10 on success, -1 per step;
(1, 0) for COG).

Monte-Carlo returns (Cal-QL's lower bound) are computed from the labeled rewards. A trajectory
that ends without a terminal was cut off by a timeout; Cal-QL treats its unseen future as the last
reward repeated forever (r_last / (1 - gamma)), which makes an all-failure episode's return the
constant r / (1 - gamma) as in the Cal-QL code; 'zero' bootstraps with 0 instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

MODES = ('last_n', 'zero', 'recorded')
BOOTSTRAPS = ('repeat_last', 'zero')


@dataclass
class RewardConfig:
    """How rewards and terminals are derived from a recorded trajectory (PTR defaults)."""

    mode: str = 'last_n'
    """'last_n' (PTR), 'zero' (COG prior data) or 'recorded' (sparse success as recorded)."""
    last_n: int = 3
    """PTR: number of final transitions of a successful trajectory labeled +1."""
    scale: float = 11.0
    """Labeled reward is multiplied by this (PTR official code: 11)."""
    shift: float = -1.0
    """...and this is added (PTR official code: -1; so +10 on success, -1 otherwise)."""
    terminal_on_positive: bool = True
    """'last_n': mark the +1 transitions terminal (the official code does)."""
    discount: float = 0.96
    """Discount of the Monte-Carlo returns (use the agent's discount)."""
    truncation_bootstrap: str = 'repeat_last'
    """Value after a non-terminal end: 'repeat_last' (Cal-QL: r_last / (1 - gamma)) or 'zero'."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f'reward mode: expected one of {MODES}, got {self.mode!r}')
        if self.truncation_bootstrap not in BOOTSTRAPS:
            raise ValueError(f'truncation_bootstrap: expected one of {BOOTSTRAPS}, '
                             f'got {self.truncation_bootstrap!r}')
        if self.last_n < 1:
            raise ValueError(f'last_n: expected >= 1, got {self.last_n}')
        if not 0.0 <= self.discount < 1.0:
            raise ValueError(f'discount: expected in [0, 1), got {self.discount}')

    @classmethod
    def ptr(cls, discount: float = 0.96) -> 'RewardConfig':
        return cls(discount=discount)

    @classmethod
    def cog_prior(cls, discount: float = 0.99) -> 'RewardConfig':
        return cls(mode='zero', scale=1.0, shift=0.0, discount=discount)

    @classmethod
    def recorded(cls, scale: float = 1.0, shift: float = 0.0,
                 discount: float = 0.99) -> 'RewardConfig':
        return cls(mode='recorded', scale=scale, shift=shift, discount=discount)


class Labeled(NamedTuple):
    """Rewards, terminals and MC returns of one trajectory under a RewardConfig."""

    reward: np.ndarray  # (T,) float32, scaled and shifted
    terminal: np.ndarray  # (T,) bool
    mc_return: np.ndarray  # (T,) float32


def label_rewards(length: int, success: bool, recorded_rewards: np.ndarray,
                  recorded_terminals: np.ndarray,
                  cfg: RewardConfig) -> tuple[np.ndarray, np.ndarray]:
    """(rewards, terminals) of one trajectory of `length` transitions under `cfg`."""
    if cfg.mode == 'last_n':
        r = np.zeros(length, np.float32)
        term = np.zeros(length, bool)
        if success:
            r[-cfg.last_n:] = 1.0
            if cfg.terminal_on_positive:
                term[-cfg.last_n:] = True
    elif cfg.mode == 'zero':
        r = np.zeros(length, np.float32)
        term = np.zeros(length, bool)
    else:
        r = np.asarray(recorded_rewards, np.float32).copy()
        term = np.asarray(recorded_terminals, bool).copy()
    r = (r * np.float32(cfg.scale) + np.float32(cfg.shift)).astype(np.float32)
    return r, term


def mc_returns(rewards: np.ndarray, terminals: np.ndarray, discount: float,
               truncation_bootstrap: str = 'repeat_last') -> np.ndarray:
    """G_t = r_t + discount * (1 - d_t) * G_{t+1}; after the last step G = bootstrap value."""
    r = np.asarray(rewards, np.float64)
    d = np.asarray(terminals, bool)
    out = np.empty_like(r)
    g = 0.0
    if len(r) and not d[-1] and truncation_bootstrap == 'repeat_last':
        g = r[-1] / (1.0 - discount)
    for t in range(len(r) - 1, -1, -1):
        g = r[t] + (0.0 if d[t] else discount * g)
        out[t] = g
    return out.astype(np.float32)


def label_trajectory(traj, cfg: RewardConfig) -> Labeled:
    """Labeled rewards, terminals and Monte-Carlo returns of a ptr_core.data.Trajectory."""
    return label_arrays(len(traj), traj.success, traj.rewards, traj.terminals, cfg)


def label_arrays(length: int, success: bool, recorded_rewards: np.ndarray,
                 recorded_terminals: np.ndarray, cfg: RewardConfig) -> Labeled:
    r, term = label_rewards(length, success, recorded_rewards, recorded_terminals, cfg)
    return Labeled(r, term, mc_returns(r, term, cfg.discount, cfg.truncation_bootstrap))
