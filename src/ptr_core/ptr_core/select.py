"""Automatic checkpoint selection from Q-values on held-out target trajectories (PTR Sec. IV-B).

PTR picked checkpoints by eye: a good Q-function rises along a successful held-out demonstration
(the success is closer at every step), a poor one is flat or noisy (PTR Fig. 3). We score that:

    score(curve) = spearman(Q_t, t) * min(1, range(Q) / range(G))

- spearman(Q_t, t) in [-1, 1]: +1 iff Q increases at every step; robust to scale and to the
  non-linear shape of a discounted value curve; a constant curve scores 0 (no ranking).
- The range factor penalizes flat curves: a curve that rises by 0.01 is monotone but says
  nothing. range(G) is the range of the Monte-Carlo returns of the same trajectory under the
  run's reward labeling (what a perfect Q would span, e.g. about 23 for a 30-step PTR demo),
  so the factor is unit-free and 1 for a curve spanning at least the true value range.
A checkpoint's score is the mean over held-out trajectories; the best checkpoint is the argmax
(ties go to the later step, which has seen more data).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ptr_core.data.rewards import RewardConfig, label_trajectory
from ptr_core.data.trajectory import Trajectory

QFn = Callable[[Trajectory], np.ndarray]


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata 'average')."""
    x = np.asarray(x, np.float64)
    order = np.argsort(x, kind='mergesort')
    xs = x[order]
    # Group equal values: each group gets the mean of the positions it spans.
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(xs)]
    avg = (starts + ends - 1) / 2.0 + 1.0
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation; 0.0 when either side is constant (no ordering to measure)."""
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    den = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / den) if den > 0 else 0.0


@dataclass(frozen=True)
class CurveScore:
    """How monotonically Q rises along one held-out trajectory, and its range."""

    spearman: float
    range_factor: float
    score: float


def monotonicity(q: np.ndarray, ref_range: float) -> CurveScore:
    """Score one Q curve (see the module docstring); `ref_range` > 0 is range(G)."""
    q = np.asarray(q, np.float64).reshape(-1)
    if len(q) < 2 or not np.isfinite(q).all():
        return CurveScore(0.0, 0.0, 0.0)
    rho = spearman(q, np.arange(len(q)))
    factor = float(min(1.0, (q.max() - q.min()) / ref_range)) if ref_range > 0 else 1.0
    return CurveScore(rho, factor, rho * factor)


@dataclass
class CheckpointScore:
    """One checkpoint's selection score over the held-out trajectories."""

    path: Path
    step: int
    score: float
    curves: list[np.ndarray] = field(default_factory=list)
    per_traj: list[CurveScore] = field(default_factory=list)
    plot: Path | None = None


def score_q_fn(q_fn: QFn, trajs: Sequence[Trajectory],
               reward_cfg: RewardConfig | None = None) -> tuple[float, list, list]:
    """(mean score, curves, per-trajectory scores) of one Q-function on held-out trajectories."""
    cfg = reward_cfg or RewardConfig()
    curves, scores = [], []
    for tr in trajs:
        q = np.asarray(q_fn(tr), np.float64).reshape(-1)
        if len(q) != len(tr):
            raise ValueError(f'q_fn: expected {len(tr)} Q-values for a trajectory of that '
                             f'length, got {len(q)}')
        g = label_trajectory(tr, cfg).mc_return
        curves.append(q)
        scores.append(monotonicity(q, float(g.max() - g.min())))
    if not scores:
        raise ValueError('held-out trajectories: expected at least one, got none')
    return float(np.mean([s.score for s in scores])), curves, scores


def plot_curves(curves: Sequence[np.ndarray], path: str | Path, title: str) -> Path:
    """PNG of Q against time step, one line per held-out trajectory (like PTR Fig. 3)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from ptr_core.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    for i, q in enumerate(curves):
        ax.plot(np.arange(len(q)), q, lw=1.2, alpha=0.8, label=f'traj {i}' if i < 8 else None)
    ax.set_xlabel('time step')
    ax.set_ylabel('Q(s_t, a_t)')
    ax.set_title(title, fontsize=9)
    if curves:
        ax.legend(fontsize=6, loc='best')
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix='.png') as tmp:
        fig.savefig(tmp, format='png')
    plt.close(fig)
    return path


def step_of(path: Path) -> int:
    """Step number in a checkpoint file name (its last integer), -1 if none."""
    nums = re.findall(r'\d+', Path(path).stem)
    return int(nums[-1]) if nums else -1


def find_checkpoints(run: str | Path) -> list[Path]:
    """Checkpoint files (*.pt, *.ckpt) under a run folder, ordered by step then name."""
    run = Path(run)
    if run.is_file():
        return [run]
    if not run.is_dir():
        raise FileNotFoundError(f'{run}: expected a run folder or checkpoint, not found')
    found = [p for p in run.rglob('*') if p.suffix in ('.pt', '.ckpt') and p.is_file()]
    return sorted(found, key=lambda p: (step_of(p), str(p)))


def rank_checkpoints(ckpts: Sequence[Path], load_q_fn: Callable[[Path], QFn],
                     trajs: Sequence[Trajectory], reward_cfg: RewardConfig | None = None,
                     plot_dir: str | Path | None = None,
                     step_fn: Callable[[Path], int] = step_of) -> list[CheckpointScore]:
    """Score every checkpoint; best first (ties: later step first)."""
    out = []
    for path in ckpts:
        q_fn = load_q_fn(path)
        score, curves, per = score_q_fn(q_fn, trajs, reward_cfg)
        cs = CheckpointScore(Path(path), int(getattr(q_fn, 'step', step_fn(path))), score,
                             curves, per)
        if plot_dir is not None:
            cs.plot = plot_curves(curves, Path(plot_dir) / f'{Path(path).stem}.png',
                                  f'{Path(path).name}: score {score:.3f}')
        out.append(cs)
    return sorted(out, key=lambda c: (-c.score, -c.step))


class AgentQ:
    """q_fn over a ptr_core.agent.Agent: Q of the trajectory's own actions under one task id."""

    def __init__(self, agent, task_id: int, chunk: int = 256) -> None:
        self.agent, self.task_id, self.chunk = agent, int(task_id), chunk
        self.step = int(getattr(agent, 'step', -1))

    def __call__(self, traj: Trajectory) -> np.ndarray:
        import torch

        t = len(traj)
        # np.array copies: dataset trajectories may be read-only memory maps.
        images = torch.from_numpy(np.array(traj.images)).permute(0, 3, 1, 2)
        states = torch.from_numpy(np.array(traj.states))
        actions = torch.from_numpy(np.array(traj.actions))
        out = []
        for s in range(0, t, self.chunk):
            e = min(t, s + self.chunk)
            n = e - s
            batch = {'image': images[s:e], 'next_image': images[s + 1:e + 1],
                     'state': states[s:e], 'next_state': states[s + 1:e + 1],
                     'action': actions[s:e],
                     'reward': torch.zeros(n), 'terminal': torch.zeros(n),
                     'mc_return': torch.zeros(n),
                     'task': torch.full((n,), self.task_id, dtype=torch.int64)}
            out.append(self.agent.q_values(batch).detach().float().cpu().numpy().reshape(-1))
        return np.concatenate(out)
