"""Look at a dataset before training on it: a per-task summary, and one episode as a picture
(frames along the top, the seven action dimensions and the reward below)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptr_core.data.dataset import Dataset, DatasetError, TaskDataset

ACTION_NAMES = ('dx', 'dy', 'dz', 'droll', 'dpitch', 'dyaw', 'grip')


def task_summary(td: TaskDataset) -> dict[str, Any]:
    """Counts, lengths, success rate, image size and per-dimension action mean/std of a task."""
    lengths = np.array([e.length for e in td.episodes])
    actions = np.concatenate([np.asarray(s['actions'], np.float64) for s in td.shards])
    return {'task': td.task, 'episodes': len(td), 'transitions': int(lengths.sum()),
            'length_min': int(lengths.min()), 'length_mean': float(lengths.mean()),
            'length_max': int(lengths.max()),
            'success_rate': float(np.mean([e.success for e in td.episodes])),
            'image': 'x'.join(map(str, td.image_shape)),
            'action_mean': actions.mean(0).tolist(), 'action_std': actions.std(0).tolist()}


def format_summary(root: str | Path, rows: list[dict[str, Any]]) -> str:
    """The summary as a terminal table: one line per task, then its action statistics."""
    n_ep = sum(r['episodes'] for r in rows)
    n_tr = sum(r['transitions'] for r in rows)
    width = max([len(r['task']) for r in rows] + [4])
    lines = [f'{root}: {len(rows)} tasks, {n_ep} episodes, {n_tr} transitions', '',
             f'{"task":<{width}}  episodes  transitions  length min/mean/max  success  image']
    for r in rows:
        length = f'{r["length_min"]}/{r["length_mean"]:.1f}/{r["length_max"]}'
        lines.append(f'{r["task"]:<{width}}  {r["episodes"]:>8}  {r["transitions"]:>11}  '
                     f'{length:>19}  {100 * r["success_rate"]:>6.0f}%  {r["image"]}')
    lines += ['', 'normalized actions, mean (std) per dimension:',
              f'{"task":<{width}}  ' + '  '.join(f'{n:>13}' for n in ACTION_NAMES)]
    for r in rows:
        cells = [f'{m:+.2f} ({s:.2f})' for m, s in zip(r['action_mean'], r['action_std'])]
        lines.append(f'{r["task"]:<{width}}  ' + '  '.join(f'{c:>13}' for c in cells))
    return '\n'.join(lines)


def summarize(root: str | Path) -> str:
    ds = Dataset(root)
    return format_summary(root, [task_summary(ds[t]) for t in ds.tasks])


def show_episode(root: str | Path, task: str, episode: int, out: str | Path,
                 frames: int = 8) -> Path:
    """Write a PNG of one episode: `frames` evenly spaced frames, the action traces and the
    reward per step. Raises DatasetError (one line) for an unknown task or episode."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from ptr_core.atomic import atomic_path
    td = Dataset(root)[task]
    if not 0 <= episode < len(td):
        raise DatasetError(f'{root}/{task}: episode: expected 0..{len(td) - 1}, got {episode}')
    tr = td.trajectory(episode)
    picks = np.unique(np.linspace(0, len(tr), min(frames, len(tr) + 1)).round().astype(int))
    fig = plt.figure(figsize=(1.6 * len(picks), 5.2))
    grid = fig.add_gridspec(3, len(picks), height_ratios=[1.0, 1.0, 0.45])
    for i, t in enumerate(picks):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(tr.images[t])
        ax.set_title(f't={t}', fontsize=8)
        ax.axis('off')
    steps = np.arange(len(tr))
    ax = fig.add_subplot(grid[1, :])
    for d, name in enumerate(ACTION_NAMES):
        ax.plot(steps, tr.actions[:, d], label=name, lw=1.2)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel('action (normalized)')
    ax.legend(ncol=7, fontsize=7, loc='upper center', bbox_to_anchor=(0.5, 1.18))
    ax = fig.add_subplot(grid[2, :], sharex=fig.axes[-1])
    ax.step(steps, tr.rewards, where='mid', color='k', lw=1.2, label='reward')
    ends = steps[tr.terminals]
    ax.plot(ends, tr.rewards[tr.terminals], 'rv', label='terminal')
    ax.set_xlabel('step')
    ax.legend(fontsize=7, loc='upper left')
    fig.suptitle(f'{task} episode {episode}: {len(tr)} steps, '
                 f'{"success" if tr.success else "failure"}'
                 f'{", " + str(tr.meta["source"]) if "source" in tr.meta else ""}', fontsize=10)
    out = Path(out)
    with atomic_path(out, suffix='.png') as tmp:
        fig.savefig(tmp, dpi=90, format='png')
    plt.close(fig)
    return out
