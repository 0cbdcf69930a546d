"""Learning curve of CQL on scripted sim data: the long form of the learning test.

Collects scripted episodes of one task (clean and noisy groups as in the learning test, failures
kept), trains CQL with the ptr_sim_cpu
preset (PTR reward labeling), and every --every steps prints the held-out monotonicity score
(ptr_core.select) and the greedy policy's success over --episodes seeded starts, next to a
uniformly random policy on the same starts. Saves a PNG of success vs step (95% Wilson bars) and
one of the held-out Q curves at every evaluated step.

    .venv/bin/python bench/learning_curve.py --steps 2000 --every 400 --out /tmp/lc
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--task', default='OpenDrawer', help='sim task (see `ptr tasks`)')
    ap.add_argument('--image-size', type=int, default=48, help='rendered image side')
    ap.add_argument('--data', action='append', default=None, metavar='COUNT:NOISE',
                    help='a group of scripted training episodes and their action-noise std '
                         '(repeatable; default 40:0.1 and 30:0.4, as the learning test)')
    ap.add_argument('--heldout', type=int, default=8, help='held-out scripted episodes')
    ap.add_argument('--heldout-noise', type=float, default=0.1, help='their action-noise std')
    ap.add_argument('--steps', type=int, default=2000, help='total gradient steps')
    ap.add_argument('--every', type=int, default=400, help='evaluate every n steps')
    ap.add_argument('--episodes', type=int, default=30, help='sim episodes per evaluation')
    ap.add_argument('--seed', type=int, default=0, help='seed of data, training and episodes')
    ap.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                    help='config override (repeatable), e.g. train.batch_size=64')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    ap.add_argument('--out', default='learning_curve', help='folder for the PNGs')
    return ap


def _collect(env, task: str, seeds, noise: float) -> list:
    from ptr_sim.collect import rollout
    from ptr_sim.scripted import make_scripted_policy

    out = []
    for s in seeds:
        out.append(rollout(env, make_scripted_policy(task, env, noise,
                                                     np.random.default_rng(s)), task, s, noise))
    return out


def _plot_success(rows: list[dict], random, path: Path) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from ptr_core.atomic import atomic_path

    steps = [r['step'] for r in rows]
    rate = np.array([r['eval'].rate for r in rows])
    err = np.array([[r['eval'].rate - r['eval'].low for r in rows],
                    [r['eval'].high - r['eval'].rate for r in rows]])
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.errorbar(steps, rate, yerr=err, marker='o', capsize=3, label='CQL (greedy)')
    ax.axhspan(random.low, random.high, color='grey', alpha=0.3, label='random (95% CI)')
    ax.axhline(random.rate, color='grey', lw=1)
    ax.set_xlabel('gradient step')
    ax.set_ylabel('success rate')
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, suffix='.png') as tmp:
        fig.savefig(tmp, format='png')
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    import ptr_sim
    from ptr_core.agent import Agent
    from ptr_core.config import ConfigError, parse_overrides, preset
    from ptr_core.data.rewards import RewardConfig
    from ptr_core.data.sampler import TransitionBuffer
    from ptr_core.select import AgentQ, plot_curves, score_q_fn
    from ptr_core.task_registry import TaskRegistry
    from ptr_core.train import train
    from ptr_sim.evaluate import CheckpointPolicy, evaluate

    if args.task not in ptr_sim.TASKS:
        print(f'learning_curve: --task: expected one of {sorted(ptr_sim.TASKS)}, '
              f'got {args.task!r}', file=sys.stderr)
        return 2
    if args.every < 1 or args.steps < args.every:
        print(f'learning_curve: --every: expected 1..--steps ({args.steps}), got {args.every}',
              file=sys.stderr)
        return 2
    overrides = [f'network.image_size={args.image_size}', 'network.num_tasks=4',
                 'network.shared_encoder=true', 'train.batch_size=32', 'train.log_every=0',
                 'train.ckpt_every=0', f'train.seed={args.seed}'] + args.set
    try:
        cfg = parse_overrides(preset('ptr_sim_cpu'), overrides)
    except ConfigError as e:
        print(f'learning_curve: {e}', file=sys.stderr)
        return 2
    try:
        groups = [(int(c), float(n)) for c, n in
                  (g.split(':') for g in (args.data or ['40:0.1', '30:0.4']))]
    except ValueError:
        print(f'learning_curve: --data: expected COUNT:NOISE, got {args.data}', file=sys.stderr)
        return 2
    out = Path(args.out)
    base = 100_000 * args.seed
    env = ptr_sim.make_env(args.task, image_size=args.image_size)
    try:
        trajs: list = []
        for count, noise in groups:
            trajs += _collect(env, args.task, range(base + len(trajs),
                                                    base + len(trajs) + count), noise)
        heldout = [t for t in _collect(env, args.task, range(base + 50_000,
                                                             base + 50_000 + args.heldout),
                                       args.heldout_noise) if t.success]
        print(f'data: {len(trajs)} episodes, {sum(len(t) for t in trajs)} transitions, '
              f'scripted success {np.mean([t.success for t in trajs]):.2f}; '
              f'{len(heldout)} held-out successes')
        if not heldout:
            print('learning_curve: no successful held-out episode to score Q on',
                  file=sys.stderr)
            return 1
        reg = TaskRegistry.create([args.task])
        rewards = RewardConfig.ptr(cfg.agent.discount)
        buffer = TransitionBuffer.from_trajectories(trajs, reg, rewards)
        agent = Agent(cfg, tasks=reg.to_dict(), target_task=args.task)
        ep0 = base + 200_000
        rng = np.random.default_rng(args.seed)
        random = evaluate(lambda obs: rng.uniform(-1, 1, 7).astype(np.float32), args.task,
                          args.episodes, seed=ep0, image_size=args.image_size, env=env)
        print(f'random: {random.summary()}')
        score0, _, _ = score_q_fn(AgentQ(agent, reg.id(args.task)), heldout, rewards)
        print(f'step 0: held-out monotonicity {score0:.3f}')
        rows = []
        for step in range(args.every, args.steps + 1, args.every):
            # One call per segment (train() runs until agent.step == step); a fresh sampler
            # seed per segment so segments do not replay the first segment's batches.
            cfg.train.seed = args.seed + step
            agent = train(cfg, [buffer], step, agent=agent, tensorboard=False)
            score, curves, _ = score_q_fn(AgentQ(agent, reg.id(args.task)), heldout, rewards)
            res = evaluate(CheckpointPolicy(agent.deployable(args.task)), args.task,
                           args.episodes, seed=ep0, image_size=args.image_size, env=env)
            plot_curves(curves, out / f'q_step_{step}.png',
                        f'{args.task} step {step}: score {score:.3f}')
            rows.append({'step': step, 'score': score, 'eval': res})
            print(f'step {step}: held-out monotonicity {score:.3f}; {res.summary()}', flush=True)
    finally:
        env.close()
    _plot_success(rows, random, out / 'success.png')
    print(f'plots in {out}/ (success.png, q_step_*.png)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
