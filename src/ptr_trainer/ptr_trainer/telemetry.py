"""Online telemetry: the signals that show a collapse before the success rate does.

Per data source (prior / demos / online) on a fixed probe batch every `telemetry_every` updates:
TD loss, Q of the data actions, policy entropy, the Cal-QL bound rate; on demo states the policy's
mean std; the temperature. Per episode: the classifier's verdict against the sim's privileged
outcome (agreement), length, return, the weights version that acted, and the classifier's
episode precision and recall against the sim, cumulative and over the last `window` episodes (the
sim's outcome is measured, never trained on). Everything goes to
TensorBoard (DIR/tb) and DIR/telemetry.jsonl; `plot()` draws DIR/telemetry.png.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ptr_core.atomic import atomic_path

# entropy and calql_bound_rate: the calql mode; correction: the residual mode's mean |correction|
_PROBE_KEYS = ('td_loss', 'q_data', 'entropy', 'calql_bound_rate', 'cql_gap', 'correction')


class Telemetry:
    """Per-source training diagnostics as TensorBoard scalars, JSON lines and a PNG."""

    def __init__(self, out: str | Path, sources: dict[str, Any], batch_size: int,
                 seed: int = 0, tensorboard: bool = True, window: int = 10) -> None:
        self.dir = Path(out)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sources, self.batch_size = sources, int(batch_size)
        self.rng = np.random.default_rng(seed + 17)
        self._probe_idx: dict[str, np.ndarray] = {}
        self.window = int(window)
        self.verdicts: list[tuple[bool, bool]] = []  # (classifier success, sim success)
        self._jsonl = open(self.dir / 'telemetry.jsonl', 'a', buffering=1)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.dir / 'tb'))
            except ImportError:  # tensorboard is optional: the jsonl and PNG still work
                self._tb = None

    def _write(self, kind: str, step: int, values: dict[str, Any]) -> None:
        self._jsonl.write(json.dumps({'kind': kind, 'step': int(step)} | values) + '\n')
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float, bool)) and v is not None:
                    self._tb.add_scalar(f'{kind}/{k}', float(v), step)

    def update(self, n: int, metrics: dict[str, float]) -> None:
        if n % 10 == 0:
            self._write('train', n, {k: float(v) for k, v in metrics.items()})

    def episode(self, i: int, env_steps: int, traj, version: int) -> None:
        meta = traj.meta or {}
        sim = meta.get('sim_success')
        values = {'success': bool(traj.success), 'length': len(traj), 'version': int(version),
                  'return': float(np.sum(traj.rewards)), 'env_steps': int(env_steps)}
        if sim is not None:
            values['sim_success'] = bool(sim)
            values['classifier_agrees'] = bool(sim) == bool(traj.success)
            self.verdicts.append((bool(traj.success), bool(sim)))
            for suffix, rows in (('', self.verdicts), ('_window', self.verdicts[-self.window:])):
                values |= {f'reward_{k}{suffix}': v
                           for k, v in precision_recall(rows).items() if v is not None}
        self._write('episode', i, values)

    def event(self, n: int, text: str) -> None:
        """A decision worth finding later (the guard's rollbacks)."""
        self._jsonl.write(json.dumps({'kind': 'event', 'step': int(n), 'text': text}) + '\n')

    def _batch(self, name: str, src) -> dict | None:
        from ptr_core.data.sampler import to_torch
        n = len(src)
        if n == 0:
            return None
        idx = self._probe_idx.get(name)
        if idx is None:
            idx = self.rng.integers(0, n, size=self.batch_size)
            if n >= self.batch_size:  # fixed from now on: the same transitions every probe
                self._probe_idx[name] = idx
        return to_torch(src.gather(idx))

    def probe(self, n: int, agent) -> dict[str, float]:
        """Metrics of `agent` on each source's probe batch, without changing any state."""
        import torch
        gen_state = agent.generator.get_state()
        out: dict[str, float] = {'temperature': float(agent.log_temp.detach().exp())}
        try:
            with torch.no_grad():
                for name, src in self.sources.items():
                    batch = self._batch(name, src)
                    if batch is None:
                        continue
                    _, m = agent.losses(agent._to(batch))
                    for k in _PROBE_KEYS:
                        if k in m:
                            out[f'{name}/{k}'] = float(m[k])
                    if name == 'demos':
                        b = agent._to(batch)
                        _, log_std = agent.policy.actor.dist(
                            agent.policy.obs(b['image'], b['state']), b['task'])
                        out['demos/policy_std'] = float(log_std.exp().mean())
        finally:
            agent.generator.set_state(gen_state)
        self._write('probe', n, out)
        return out

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def verdict_counts(verdicts: list[tuple[bool, bool]]) -> tuple[int, int, int]:
    """(said, true, both) over (classifier success, sim success) pairs of episodes."""
    return (sum(s for s, _ in verdicts), sum(t for _, t in verdicts),
            sum(s and t for s, t in verdicts))


def precision_recall(verdicts: list[tuple[bool, bool]]) -> dict[str, float | None]:
    """Episode precision and recall of the classifier's verdicts against the sim's outcomes
    ((said, true) pairs); None where undefined (nothing said, or no true success)."""
    said, true, both = verdict_counts(verdicts)
    return {'precision': both / said if said else None, 'recall': both / true if true else None}


def read(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if p.is_dir():
        p = p / 'telemetry.jsonl'
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def policy_panel(probes: list[dict]) -> tuple[str, str]:
    """The probe key and title of the policy's panel: the residual mode has no policy entropy,
    so its panel shows the head's mean correction instead."""
    if any(k.endswith('/entropy') for r in probes for k in r):
        return 'entropy', 'policy entropy'
    return 'correction', 'residual |correction| (normalized)'


def plot(path: str | Path, out: str | Path | None = None) -> Path:
    """A 2x3 panel PNG of the probes and the per-episode classifier agreement."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = read(path)
    probes = [r for r in rows if r['kind'] == 'probe']
    eps = [r for r in rows if r['kind'] == 'episode']
    out = Path(out) if out else (Path(path) if Path(path).is_dir() else Path(path).parent) \
        / 'telemetry.png'
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    x = [r['step'] for r in probes]
    panels = ((axes[0, 0], 'td_loss', 'TD loss'), (axes[0, 1], 'q_data', 'Q(s, a_data)'),
              (axes[0, 2], *policy_panel(probes)))
    for ax, key, title in panels:
        for src, c in (('prior', 'tab:gray'), ('demos', 'tab:green'), ('online', 'tab:blue')):
            ys = [r.get(f'{src}/{key}', np.nan) for r in probes]
            if np.isfinite(ys).any():
                ax.plot(x, ys, c=c, label=src)
        ax.set_title(title)
        ax.set_xlabel('updates')
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    ax = axes[1, 0]
    ax.plot(x, [r.get('temperature', np.nan) for r in probes], c='tab:red', label='temperature')
    for src, c in (('demos', 'tab:green'), ('online', 'tab:blue')):
        ys = [r.get(f'{src}/calql_bound_rate', np.nan) for r in probes]
        if np.isfinite(ys).any():
            ax.plot(x, ys, c=c, ls='--', label=f'Cal-QL bound rate ({src})')
    ax.set_title('temperature, Cal-QL bound rate')
    ax.set_xlabel('updates')
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    ax.plot(x, [r.get('demos/policy_std', np.nan) for r in probes], c='tab:purple')
    ax.set_title('policy std on demo states')
    ax.set_xlabel('updates')
    ax = axes[1, 2]
    if eps:
        steps = [r['env_steps'] for r in eps]
        ax.scatter(steps, [r['success'] for r in eps], s=18, c='tab:blue', label='classifier')
        if any('sim_success' in r for r in eps):
            ax.scatter(steps, [0.1 + 0.8 * r.get('sim_success', False) for r in eps], s=18,
                       marker='x', c='tab:orange', label='sim outcome (privileged)')
            agree = [r.get('classifier_agrees', True) for r in eps]
            ax.set_title(f'episode success; classifier agrees {sum(agree)}/{len(agree)}')
        else:
            ax.set_title('episode success (classifier)')
        ax.set_xlabel('online env steps')
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out, suffix='.png') as tmp:
        fig.savefig(tmp, format='png', dpi=100)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    """`ptr telemetry RUN/telemetry [--out PNG]`."""
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog='ptr telemetry', description=__doc__.split('\n')[0])
    ap.add_argument('dir', help='telemetry folder of an online run (RUN_DIR/telemetry)')
    ap.add_argument('--out', default=None, help='PNG path (default: DIR/telemetry.png)')
    args = ap.parse_args(argv)
    try:
        print(plot(args.dir, args.out))
    except (OSError, ValueError, KeyError) as e:
        print(f'ptr telemetry: {args.dir}: {e}', file=sys.stderr)
        return 1
    return 0
