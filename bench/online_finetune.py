"""Online fine-tuning benchmark: whether autonomous online RL improves a mediocre policy.

The real online graph in sim (lock-step clock, the learned success classifier, the CloseDoor
reset policy, the episode manager and the trainer as separate processes over DDS; `ptr demo`'s
`run_online`) starts from an offline OpenDoor policy fine-tuned on few demos, so that it begins
between 20 % and 60 % greedy success: the offline stages run once (the setting, cached under
--out) and each seed then runs its own online phase (exploration noise, sampling, starts), so the
seeds measure the online phase, not offline variance. Every --every updates the published
checkpoint's greedy success is evaluated on the same seeded starts (--episodes), and the script
plots success against online environment steps per seed and ends with one line:

    online_gain=<mean points> start=<rate> end=<rate> worst_drop=<points> seeds=3

    .venv/bin/python bench/online_finetune.py --out runs/bench_online
The setting is the demo's own offline policy (10 demos, PTR's setting; the small budget's
fine-tuning steps): with the arm's start drawn per episode it starts at 8/20 greedy (seed 0), in
the 20-60 % band; --finetune-steps fewer gives a weaker start (500: 3/20, below the band).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n', 1)[1])
    ap.add_argument('--out', default='runs/bench_online', help='output folder (stages resume)')
    ap.add_argument('--seeds', type=int, default=3, help='online seeds')
    ap.add_argument('--finetune-steps', type=int, default=None,
                    help="offline fine-tuning steps (default: the demo's; fewer: a weaker start)")
    ap.add_argument('--online-episodes', type=int, default=40, help='online episodes per seed')
    ap.add_argument('--utd', type=float, default=2.0, help='updates per online env step')
    ap.add_argument('--every', type=int, default=200, help='evaluate every n updates')
    ap.add_argument('--episodes', type=int, default=20, help='greedy evaluation episodes')
    ap.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                    help='an OnlineConfig override for the trainer (repeatable), e.g. '
                         'guard=false; the ablations in the README use these')
    ap.add_argument('--exploration-scale', type=float, default=None,
                    help='std multiplier of sampled online actions (default: the budget)')
    ap.add_argument('--reward-threshold', type=float, default=0.7,
                    help="classifier P(success) threshold online (-1: the checkpoint's). 0.7: "
                         'over 4 online runs at 0.5 the final frames of 45 false successes had '
                         'P 0.52-0.75 and 44 of 47 true ones P >= 0.7')
    ap.add_argument('--timeout', type=float, default=1800.0, help='seconds per seed, at most')
    return ap


def _key_value(item: str) -> tuple[str, str]:
    """'key=value' from the command line (the value is parsed by the field's type)."""
    key, sep, value = item.partition('=')
    if not sep:
        raise SystemExit(f'--set {item!r}: expected KEY=VALUE (an OnlineConfig field)')
    return key.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from ptr_bringup import demo
    from ptr_bringup.experiments.stages import env_steps_at
    from ptr_core.config import apply_fields
    from ptr_core.policy import DeployablePolicy
    from ptr_sim.evaluate import CheckpointPolicy, evaluate
    from ptr_sim.evaluate import wilson_interval as wilson
    torch.set_num_threads(2)
    out = Path(args.out)
    small = demo.BUDGETS['small']
    trainer = dataclasses.replace(small.trainer, utd=args.utd)
    apply_fields(trainer, dict(_key_value(kv) for kv in args.set), '--set')
    b = dataclasses.replace(small, finetune_steps=args.finetune_steps or small.finetune_steps,
                            online_episodes=args.online_episodes, trainer=trainer.validate(),
                            online_timeout=args.timeout, eval_episodes=args.episodes,
                            reward_threshold=args.reward_threshold)
    if args.exploration_scale is not None:
        b = dataclasses.replace(b, exploration_scale=args.exploration_scale)
    t0 = time.monotonic()
    # The offline setting, once: data, pre-training, short fine-tuning, reset policy, classifier.
    summary = demo.run_demo(out / 'offline', b, seed=0, online=False)
    paths = {k: Path(v) for k, v in summary['paths'].items()}
    eval_seed = 90_000

    def greedy(ckpt: Path) -> tuple[int, int]:
        pol = DeployablePolicy.load(ckpt, demo.TARGET)
        r = evaluate(CheckpointPolicy(pol), demo.TARGET, args.episodes, seed=eval_seed,
                     image_size=b.image_size)
        return r.successes, r.episodes

    start_k, n = summary['before']['successes'], summary['before']['episodes']  # same starts
    print(f'[bench] offline start: {start_k}/{n} greedy successes', flush=True)
    curves = []
    for seed in range(args.seeds):
        run_dir = out / f'online_seed{seed}'
        ts = time.monotonic()
        res = demo.run_online(paths, run_dir, b, seed=1 + seed)
        hist = res['history']
        steps_at = np.cumsum([h['length'] for h in hist]) if hist else np.zeros(0)
        ckpts = sorted((run_dir / 'checkpoints').glob('online_*.pt'))
        points = [(0, 0, start_k)]
        done = set()
        tel = run_dir / 'telemetry' / 'telemetry.jsonl'
        rows = [json.loads(x) for x in tel.read_text().splitlines()] if tel.is_file() else []
        for ck in ckpts:
            u = int(ck.stem.split('_')[1])
            bucket = u // args.every
            if bucket in done and ck != ckpts[-1]:
                continue
            done.add(bucket)
            env_steps = env_steps_at(rows, u)
            k, _ = greedy(ck)
            points.append((u, env_steps, k))
            print(f'[bench] seed {seed}: update {u} env steps {env_steps}: {k}/{n}', flush=True)
        end_k = points[-1][2]
        curves.append({'seed': seed, 'points': points, 'start': start_k, 'end': end_k,
                       'episodes': len(hist), 'env_steps': int(steps_at[-1]) if len(hist) else 0,
                       'online_successes_classifier': int(sum(h['success'] for h in hist)),
                       'online_successes_sim': int(sum(h['sim_success'] for h in hist)),
                       'wall_s': round(time.monotonic() - ts, 1)})
        print(f'[bench] seed {seed}: {json.dumps(curves[-1])}', flush=True)
    _plot(curves, n, out / 'online_finetune.png')
    start = start_k / n
    ends = [c['end'] / n for c in curves]
    worst = max(0.0, max(start - min(k for _, _, k in c['points']) / n for c in curves))
    gain = 100 * (np.mean(ends) - start)
    lo, hi = wilson(sum(c['end'] for c in curves), n * len(curves))
    (out / 'result.json').write_text(json.dumps({'curves': curves, 'n': n,
                                                 'wall_s': round(time.monotonic() - t0, 1)}))
    print(f'[bench] end pooled {100 * np.mean(ends):.0f}% (95% Wilson {100 * lo:.0f}-'
          f'{100 * hi:.0f}%), plot {out / "online_finetune.png"}')
    print(f'online_gain={gain:.1f} start={start:.2f} end={np.mean(ends):.2f} '
          f'worst_drop={100 * worst:.1f} seeds={len(curves)}')
    return 0


def _plot(curves: list[dict], n: int, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for c in curves:
        x = [p[1] for p in c['points']]
        y = [p[2] / n for p in c['points']]
        ax.plot(x, y, marker='o', label=f"seed {c['seed']}")
    ax.axhline(curves[0]['start'] / n if curves else 0, c='gray', ls='--', label='offline start')
    ax.set_xlabel('online environment steps')
    ax.set_ylabel(f'greedy success ({n} seeded starts)')
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == '__main__':
    sys.exit(main())
