"""The PNG plots of a results page: success per method, selection scores, learning curves."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ptr_bringup.experiments.report import collect_counts
from ptr_bringup.experiments.table import Table
from ptr_sim.evaluate import wilson_interval


def plot_success(table: Table, results: dict[str, dict[str, Any]], path: Path) -> Path:
    """Bars: pooled rate with its Wilson interval per method and column; dots: seeds."""
    plt = _pyplot()
    counts = collect_counts(table, results)
    nr, nc = len(table.rows), len(table.columns)
    width = 0.8 / nc
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * nr * max(1, nc) + 2), 3.8), dpi=100)
    for j, col in enumerate(table.columns):
        xs = np.arange(nr) + (j - (nc - 1) / 2) * width
        rate, lo_e, hi_e = [], [], []
        for r in table.rows:
            c = counts[(r, col)]
            p = c.k / c.n if c.n else 0.0
            lo, hi = wilson_interval(c.k, c.n) if c.n else (0.0, 0.0)
            rate.append(p)
            lo_e.append(p - lo)
            hi_e.append(hi - p)
        ax.bar(xs, rate, width * 0.9, yerr=[lo_e, hi_e], capsize=3, label=col, alpha=0.8)
        for x, r in zip(xs, table.rows):
            ys = counts[(r, col)].rates
            ax.scatter([x] * len(ys), ys, s=10, c='k', zorder=3)
    ax.set_xticks(np.arange(nr))
    ax.set_xticklabels(table.rows, rotation=25, ha='right', fontsize=8)
    ax.set_ylabel('success rate (95% Wilson; dots: seeds)')
    ax.set_ylim(0, 1.02)
    if nc > 1:
        ax.legend(fontsize=8)
    ax.set_title(table.title, fontsize=9)
    return _save(fig, path)


def plot_selection(table: Table, results: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """The held-out selection score of every checkpoint against its step, per method: the
    learning curve the selection saw (Q-monotonicity for CQL rows, minus action MSE for BC)."""
    plt = _pyplot()
    series: dict[tuple[str, str], list[tuple[int, list]]] = {}
    for cell in table.cells:
        res = results.get(cell.stage.key)
        if not res or not res.get('scores'):
            continue
        kind = 'Q monotonicity' if cell.stage.params['select'] == 'q' else '-action MSE'
        series.setdefault((kind, cell.row), []).append((cell.seed, res['scores']))
    if not series:
        return None
    kinds = sorted({k for k, _ in series})
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.2 * len(kinds), 3.6), dpi=100,
                             squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for (k, row), runs in sorted(series.items()):
            if k != kind:
                continue
            for i, (_, sc) in enumerate(runs):
                steps = [a for a, _ in sc]
                ax.plot(steps, [b for _, b in sc], marker='.', lw=1,
                        color=f'C{table.rows.index(row) % 10}', label=row if i == 0 else None)
        ax.set_xlabel('gradient step of the checkpoint')
        ax.set_ylabel(f'held-out {kind}')
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_online(table: Table, results: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Greedy success of the published checkpoints against online environment steps, per
    seed and method (95% Wilson bars), from the cells that ran an online phase."""
    plt = _pyplot()
    runs = [(c, results[c.stage.key]) for c in table.cells
            if c.stage.key in results and results[c.stage.key].get('curve')]
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for cell, res in runs:
        first = cell.seed == min(c.seed for c, _ in runs if c.row == cell.row)
        _rate_curve(ax, [pt[1] for pt in res['curve']], [pt[2:4] for pt in res['curve']],
                    f'C{table.rows.index(cell.row) % 10}', cell.row if first else None, 0.8)
    return _finish(ax, table, 'online environment steps', 'greedy success (95% Wilson)', path)


def _rate_curve(ax, x: list, counts: list, color: str, label: str | None,
                alpha: float = 1.0) -> None:
    """Success rates k/n against x, with 95% Wilson bars."""
    y = [k / n for k, n in counts]
    ci = [wilson_interval(k, n) for k, n in counts]
    ax.errorbar(x, y, yerr=[[a - lo for a, (lo, _) in zip(y, ci)],
                            [hi - a for a, (_, hi) in zip(y, ci)]],
                marker='o', ms=3, lw=1, capsize=2, color=color, alpha=alpha, label=label)


def _finish(ax, table: Table, xlabel: str, ylabel: str, path: Path) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    ax.set_title(table.title, fontsize=9)
    return _save(ax.figure, path)


def plot_curves(table: Table, results: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Success of every checkpoint (snapshot episodes, pooled over seeds and columns) against
    its gradient step, per method: where, if anywhere, the methods cross."""
    plt = _pyplot()
    pts: dict[str, dict[int, list[int]]] = {}
    for cell in table.cells:
        for snap in (results.get(cell.stage.key) or {}).get('snapshots') or []:
            k = sum(e['successes'] for e in snap['evals'].values())
            n = sum(e['episodes'] for e in snap['evals'].values())
            acc = pts.setdefault(cell.row, {}).setdefault(snap['step'], [0, 0])
            acc[0] += k
            acc[1] += n
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for row, by_step in pts.items():
        steps = sorted(by_step)
        _rate_curve(ax, steps, [by_step[st] for st in steps],
                    f'C{table.rows.index(row) % 10}', row)
    return _finish(ax, table, 'gradient step of the checkpoint (fine-tuning or training run)',
                   'success (snapshot episodes, 95% Wilson)', path)


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> Path:
    """Write the figure as a PNG atomically and free it."""
    from ptr_core.atomic import atomic_path
    fig.tight_layout()
    with atomic_path(path, suffix='.png') as tmp:
        fig.savefig(tmp, format='png')
    _pyplot().close(fig)
    return path
