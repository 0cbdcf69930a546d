"""Whether the reward classifier can be trusted online: episode precision and recall against the
sim, for the classifier `ptr demo` trained first (scripted frames only, threshold 0.5, one frame
ends an episode), then (plus the offline policy's own rollouts, mined hard negatives, a
threshold calibrated on held-out episodes for precision 0.9, two consecutive frames) on episodes
from the demos' starts, and now the same on episodes from the budget's `classifier_starts`
(mixed: inside and outside the demos' range), each also under the other rule, all measured in
the same run on the same rollouts.

The test rollouts are what the online phase sees: the demo's offline OpenDoor policy with sampled
actions (std x the budget's exploration scale) from seeded starts, run to the horizon; each frame
is labelled by the sim's success predicate (measurement only). The offline stages are `ptr demo`'s
(cached under --out).

    .venv/bin/python bench/reward_precision.py [--out runs/bench_reward] [--episodes 60]
        [--seed 0] [--classifier-seeds 3] [--starts demo|ood|mixed]

Each classifier is trained with --classifier-seeds seeds (its initialization, sampling and
held-out split); the counts are pooled over them.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from ptr_core.constants import START_MODES


def rollouts(ckpt: Path, task: str, episodes: int, image_size: int, seed: int,
             std_scale: float, starts: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames (after each action) and their sim success labels, per episode."""
    import torch

    import ptr_sim
    from ptr_core.policy import DeployablePolicy
    policy = DeployablePolicy.load(ckpt, task)
    env = ptr_sim.make_env(task, image_size=image_size, terminate_on_success=False,
                           starts=starts)
    frames, labels = [], []
    gen = torch.Generator()
    try:
        for ep in range(episodes):
            gen.manual_seed(seed * 1_000_003 + ep)
            obs, _ = env.reset(seed=seed + ep)
            imgs, ok = [], []
            for _ in range(env.unwrapped.horizon):
                a = policy.act(obs['image'], obs['state'], greedy=False, generator=gen,
                               std_scale=std_scale)
                obs, _, _, truncated, info = env.step(a)
                imgs.append(obs['image'])
                ok.append(bool(info['success']))
                if truncated:
                    break
            frames.append(np.stack(imgs))
            labels.append(np.asarray(ok, np.int64))
    finally:
        env.close()
    return frames, labels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n', 1)[1])
    ap.add_argument('--out', default='runs/bench_reward', help='work folder (stages resume)')
    ap.add_argument('--episodes', type=int, default=60, help='test rollouts of the policy')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--starts', default='demo', choices=START_MODES,
                    help="where the test rollouts start (mixed: as the online table's)")
    ap.add_argument('--classifier-seeds', type=int, default=3,
                    help='classifier training seeds per recipe (counts pooled)')
    args = ap.parse_args(argv)

    import torch

    from ptr_bringup.demo import TARGET, classifier_frames, collect_all, finetune, pretrain
    from ptr_bringup.demo_budget import BUDGETS
    from ptr_reward.calibration import count_episodes
    from ptr_reward.classifier import ClassifierConfig, train_classifier
    from ptr_sim.evaluate import wilson_interval
    torch.set_num_threads(1)
    b, out, seed = BUDGETS['small'], Path(args.out), args.seed
    paths = collect_all(out / 'data', b, seed)
    pre = pretrain(paths['prior'], out / 'runs' / 'pretrain', b)
    policy = finetune(pre, paths['prior'], paths['target'], TARGET, out / 'runs' / 'finetune',
                      b.finetune_steps, b.finetune_tau)
    print(f'policy: {policy}', flush=True)

    frames, truth = rollouts(policy, TARGET, args.episodes, b.image_size, seed + 123_000,
                             b.exploration_scale, args.starts)
    real = sum(bool(y.any()) for y in truth)
    # (name, with the policy's rollouts, where its episodes start, its config): the recipe of
    # session 1, the recipe of session 2 (demo starts only), today's (the budget's starts)
    recipes = [('before', False, 'demo', ClassifierConfig(hard_negatives=0.0,
                                                          target_precision=0.0)),
               ('demo-start', True, 'demo', ClassifierConfig()),
               (f'{b.classifier_starts}-start', True, b.classifier_starts, ClassifierConfig())]
    data = {(pol, st): classifier_frames(TARGET, b.classifier_episodes, b.image_size,
                                         seed + 70_000, policy_ckpt=policy if pol else None,
                                         starts=st)
            for _, pol, st, _ in recipes}
    rows: dict[tuple[str, str], list[int]] = {}
    for name, with_policy, starts, base in recipes:
        images, labels, groups = data[with_policy, starts]
        for cs in range(args.classifier_seeds):
            cfg = dataclasses.replace(base, image_size=b.image_size, steps=b.classifier_steps,
                                      seed=seed + cs)
            res = train_classifier(images, labels, cfg, groups)
            cal = f'; {res.calibration.summary()}' if res.calibration else ''
            print(f'classifier {name} (seed {cs}): {len(labels)} frames, '
                  f'{int(labels.sum())} success, threshold {res.model.cfg.threshold:.3f}{cal}',
                  flush=True)
            probs = [res.model.predict_proba(f) for f in frames]
            for rule, (threshold, k) in (('0.5, 1 frame', (0.5, 1)),
                                         ('own, 2 frames', (res.model.cfg.threshold, 2))):
                c = count_episodes(probs, truth, threshold, k)
                acc = rows.setdefault((name, rule), [0, 0, 0])
                acc[0] += c.declared
                acc[1] += c.correct
                acc[2] += c.successes

    print(f'\n{args.episodes} rollouts of the offline policy from {args.starts} starts (sampled, '
          f'std x {b.exploration_scale}); the task held in {real} of them (sim); counts pooled '
          f'over {args.classifier_seeds} classifier seeds')
    print(f'{"classifier":<12} {"rule":<14} {"said":>5} {"real":>5} '
          f'{"precision (95% CI)":>22} {"recall":>7}')
    for (name, rule), (said, correct, successes) in rows.items():
        lo, hi = wilson_interval(correct, said) if said else (0.0, 1.0)
        prec = correct / said if said else float('nan')
        print(f'{name:<12} {rule:<14} {said:5d} {correct:5d} {prec:8.2f} ({lo:.2f}-{hi:.2f}) '
              f'{correct / max(successes, 1):7.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
