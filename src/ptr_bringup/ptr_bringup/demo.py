"""`ptr demo`: the whole PTR story in sim, from scripted data to autonomous online fine-tuning.

Stages (each writes under --out and is skipped when its output already exists, so an interrupted
demo continues where it stopped):
  1. data        scripted episodes of several prior tasks, 10 OpenDoor demos (the held-out
                 target), CloseDoor demos (for the reset policy)            ptr_sim.collect
  2. pretrain    multi-task CQL on the prior tasks                          ptr pretrain
  3. finetune    OpenDoor from the 10 demos, tau-mixed with the prior data  ptr finetune
  4. reset       the CloseDoor reset policy, fine-tuned the same way (PTR App. F)
  5. reward      the OpenDoor success classifier from labeled frames        ptr train-reward
  6. before      OpenDoor success of the offline policy                     ptr_sim.evaluate
  7. online      the online_finetune graph (lock-step sim, policy, reward, reset, episode manager,
                 trainer: ptr_core.online_config's PTR settings) as processes over DDS
  8. after       OpenDoor success of the last online checkpoint, the PNG of success against
                 environment steps, summary.json
The small budget (default) is sized for a 2-core CPU (under 30 minutes); `--budget full` uses the
papers' step counts and takes hours. The README gives the measured figures and why each
setting of the budget is what it is.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ptr_bringup.demo_budget import BUDGETS, Budget  # noqa: F401 (this module's API)
from ptr_bringup.demo_online import demo_domain, run_online
from ptr_bringup.demo_report import online_summary, plot, print_summary, say

TARGET, RESET = 'OpenDoor', 'CloseDoor'


# ---- 1. data -----------------------------------------------------------------------------------
def collect(task: str, out: Path, episodes: int, image_size: int, seed: int,
            noise: float = 0.1, successes_only: bool = True, part: int = 0) -> Path:
    """`episodes` scripted episodes of `task` (successful ones only if `successes_only`) into
    the dataset at `out`, as shards 'w<part>-' so that several parts can share one task."""
    from ptr_core.progress import progress
    from ptr_sim.collect import run_worker
    if episodes <= 0 or any((out / task).glob(f'shard-w{part}-*')):
        return out
    with progress(total=episodes, desc=f'collect {task} (noise {noise:g})', unit='ep') as bar:
        res = run_worker(task, str(out), episodes, part, 1, seed, image_size, noise,
                         successes_only, report=lambda kept, ok: bar.update(kept))
    if res.written < episodes:
        raise RuntimeError(f'collect {task}: only {res.written} of {episodes} scripted '
                           f'episodes succeeded in {res.attempted} attempts')
    return out


def collect_all(root: Path, b: Budget, seed: int) -> dict[str, Path]:
    # Prior data mixes near-clean successes with noisy episodes whose failures are kept: from
    # clean demos alone the critic's Q is high and blurred and the policy fails (ptr_sim's
    # learning test); Bridge/COG prior data has the same mix of successes and failures.
    for i, task in enumerate(b.prior_tasks):
        collect(task, root / 'prior', b.prior_episodes, b.image_size, seed + 1000 * i,
                b.demo_noise)
        collect(task, root / 'prior', b.prior_noisy_episodes, b.image_size,
                seed + 1000 * i + 500, b.noisy_noise, successes_only=False, part=1)
    collect(TARGET, root / 'target', b.target_demos, b.image_size, seed + 50_000, b.demo_noise)
    collect(RESET, root / 'reset', b.reset_demos, b.image_size, seed + 60_000, b.demo_noise)
    return {'prior': root / 'prior', 'target': root / 'target', 'reset': root / 'reset'}


def classifier_frames(task: str, episodes: int, image_size: int, seed: int,
                      after_success: int = 4, policy_ckpt: Path | None = None,
                      starts: str = 'demo') -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames of episodes labeled by the task's success predicate, frame by frame.

    Episodes run past their first success (`after_success` more steps) so the classifier sees
    several 'open' frames per episode. They come from the scripted policy with light and heavy
    noise (near misses) and, with `policy_ckpt`, every third from the offline policy itself with
    sampled actions: its own failed endings are the frames that fooled the classifier online
    (15-23 classifier successes where the sim saw 4-6). On the arm, a person labels such
    rollouts (PTR App. F). `starts` (ptr_core.constants.START_MODES): where the episodes start;
    the classifier must have seen the states the online robot starts from.
    """
    import ptr_sim
    from ptr_sim.scripted import make_scripted_policy
    env = ptr_sim.make_env(task, image_size=image_size, terminate_on_success=False,
                           starts=starts)
    learned = None
    if policy_ckpt is not None:
        from ptr_core.policy import DeployablePolicy
        from ptr_sim.evaluate import CheckpointPolicy
        learned = CheckpointPolicy(DeployablePolicy.load(policy_ckpt, task), greedy=False,
                                   seed=seed)
    images, labels, groups = [], [], []
    try:
        for ep in range(episodes):
            rng = np.random.default_rng(seed + ep)
            if learned is not None and ep % 3 == 2:
                learned.reset(env, ep)
                policy = learned
            else:
                policy = make_scripted_policy(task, env, 0.1 if ep % 2 == 0 else 0.6, rng)
            obs, _ = env.reset(seed=seed + ep)
            images.append(obs['image'])
            labels.append(bool(env.unwrapped.is_success()))
            left = None
            for _ in range(env.unwrapped.horizon):
                obs, _, _, truncated, info = env.step(policy(obs))
                images.append(obs['image'])
                labels.append(bool(info['success']))
                if info['success'] and left is None:
                    left = after_success
                if left is not None:
                    left -= 1
                if truncated or left == 0:
                    break
            groups += [ep] * (len(images) - len(groups))
    finally:
        env.close()
    return np.stack(images), np.asarray(labels, np.int64), np.asarray(groups)


# ---- 2-5. training -----------------------------------------------------------------------------
def _common_overrides(b: Budget) -> list[str]:
    out = [f'network.image_size={b.image_size}', f'train.batch_size={b.batch_size}',
           'agent.cql_alpha=5.0',  # PTR App. F: alpha 5 for the offline phase
           'train.ckpt_every=0', 'train.log_every=50']
    for o in b.network:
        out.append(o)
    return [x for o in out for x in ('--set', o)]


def latest_ckpt(run: Path) -> Path | None:
    from ptr_core.checkpoint import latest
    return latest(run) if (run / 'checkpoints').is_dir() else None


def pretrain(data: Path, run: Path, b: Budget) -> Path:
    from ptr_core.cli import pretrain_main
    if (ck := latest_ckpt(run)) is None:
        argv = ['--data', str(data), '--out', str(run), '--steps', str(b.pretrain_steps),
                '--no-tensorboard'] + _common_overrides(b)
        if pretrain_main(argv) != 0:
            raise RuntimeError('ptr pretrain failed (see above)')
        ck = latest_ckpt(run)
    return ck


def finetune(pre: Path, prior: Path, target: Path, task: str, run: Path, steps: int,
             tau: float) -> Path:
    from ptr_core.cli import finetune_main
    if (ck := latest_ckpt(run)) is None:
        argv = ['--ckpt', str(pre), '--data', str(prior), '--target', str(target),
                '--target-task', task, '--out', str(run), '--steps', str(steps),
                '--tau', str(tau), '--no-tensorboard']
        if finetune_main(argv) != 0:
            raise RuntimeError(f'ptr finetune ({task}) failed (see above)')
        ck = latest_ckpt(run)
    return ck


def train_reward(out: Path, b: Budget, seed: int, policy_ckpt: Path | None = None
                 ) -> tuple[Path, dict[str, Any]]:
    from ptr_core.progress import progress
    from ptr_reward.classifier import (
        ClassifierConfig,
        load_classifier,
        save_classifier,
        train_classifier,
    )
    if out.is_file():
        import torch
        blob = torch.load(out, map_location='cpu', weights_only=True)
        load_classifier(out)
        return out, dict(blob.get('metrics', {}))
    images, labels, groups = classifier_frames(TARGET, b.classifier_episodes, b.image_size,
                                               seed + 70_000, policy_ckpt=policy_ckpt,
                                               starts=b.classifier_starts)
    cfg = ClassifierConfig(image_size=b.image_size, steps=b.classifier_steps, seed=seed)
    if labels.min() == labels.max():  # tiny budgets may see one class only
        labels[-1] = 1 - labels[-1]
    with progress(total=cfg.steps, desc='reward classifier') as bar:
        res = train_classifier(images, labels, cfg, groups, progress=bar.update)
    metrics = {'val_accuracy': res.val_accuracy, 'train_accuracy': res.train_accuracy,
               'frames': int(len(labels)), 'positives': int(labels.sum())}
    if res.calibration is not None:
        metrics['calibration'] = res.calibration.to_dict()
    save_classifier(out, res.model, metrics)
    say(f'reward classifier: balanced val accuracy {res.val_accuracy:.3f} on '
        f'{res.val_counts[1]} success / {res.val_counts[0]} other frames')
    if res.calibration is not None:
        say(f'reward classifier: {res.calibration.summary()}')
    return out, metrics


# ---- 6/8. evaluation ---------------------------------------------------------------------------
def evaluate_ckpt(ckpt: Path, b: Budget, seed: int) -> dict[str, Any]:
    from ptr_core.policy import DeployablePolicy
    from ptr_sim.evaluate import CheckpointPolicy, evaluate
    policy = DeployablePolicy.load(ckpt, TARGET)
    res = evaluate(CheckpointPolicy(policy), TARGET, b.eval_episodes, seed=seed,
                   image_size=b.image_size, progress=True)
    say(f'{ckpt.name}: {res.summary()}')
    return res.to_dict()


# ---- 7. online ---------------------------------------------------------------------------------
class StageClock:
    """`with stage('name'):` announces a stage and records its wall time in `seconds`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        say(f'--- {name}')
        t0 = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - t0, 1)


# ---- the whole story ---------------------------------------------------------------------------
def run_demo(out: Path, b: Budget, seed: int = 0, online: bool = True) -> dict[str, Any]:
    """Every stage in order; returns (and writes) the summary."""
    import torch

    from ptr_core.atomic import write_json
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    out.mkdir(parents=True, exist_ok=True)
    stage = StageClock()
    t_all = time.monotonic()

    with stage('data'):
        paths: dict[str, Any] = collect_all(out / 'data', b, seed)
    with stage('pretrain'):
        paths['pretrain'] = pretrain(paths['prior'], out / 'runs' / 'pretrain', b)
    with stage('finetune'):
        paths['finetune'] = finetune(paths['pretrain'], paths['prior'], paths['target'], TARGET,
                                     out / 'runs' / 'finetune', b.finetune_steps, b.finetune_tau)
    with stage('reset policy'):
        paths['reset_policy'] = finetune(paths['pretrain'], paths['prior'], paths['reset'], RESET,
                                         out / 'runs' / 'reset', b.reset_steps, b.finetune_tau)
    with stage('reward classifier'):
        paths['reward'], reward_metrics = train_reward(out / 'runs' / 'reward.pt', b, seed,
                                                       paths['finetune'])
    with stage('evaluate before'):
        before = evaluate_ckpt(paths['finetune'], b, seed + 90_000)
    summary: dict[str, Any] = {'budget': dataclasses.asdict(b), 'seed': seed,
                               'paths': {k: str(v) for k, v in paths.items()},
                               'reward_classifier': reward_metrics, 'before': before}
    after, hist = None, []
    if online:
        with stage('online'):
            res = run_online(paths, out / 'runs' / 'online', b, seed)
            hist = res['history']
        online_summary(res, summary, out / 'runs' / 'online')
        # The last checkpoint: the agent as online training left it (the trainer saves one when
        # it stops; each published version and each rollback of the guard also saves one).
        last = sorted((out / 'runs' / 'online' / 'checkpoints').glob('online_*.pt'))
        if last:
            with stage('evaluate after'):
                after = evaluate_ckpt(last[-1], b, seed + 90_000)
                summary['after'] = after | {'ckpt': str(last[-1])}
        else:
            say('no online checkpoint was written (no weights version published)')
    summary['plot'] = str(plot(hist, before, after, out / 'online_success.png', TARGET))
    summary['stage_seconds'] = stage.seconds
    summary['wall_s'] = round(time.monotonic() - t_all, 1)
    write_json(out / 'summary.json', summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog='ptr demo', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--budget', choices=sorted(BUDGETS), default='small',
                   help="small: < 30 min on 2 CPU cores (default); full: the papers' steps; "
                        'tiny: a smoke run')
    p.add_argument('--out', default='runs/demo', help='output folder (reused: stages resume)')
    p.add_argument('--seed', type=int, default=0, help='base seed of data, training and eval')
    p.add_argument('--no-online', action='store_true', help='stop after the offline stages')
    args = p.parse_args(argv)
    try:
        demo_domain()  # refused now, not after half an hour of offline stages
    except ValueError as e:
        print(f'ptr demo: {e}', file=sys.stderr)
        return 2
    try:
        summary = run_demo(Path(args.out), BUDGETS[args.budget], args.seed,
                           online=not args.no_online)
    except (RuntimeError, ValueError, KeyError, FileNotFoundError) as e:
        print(f'ptr demo: {e}', file=sys.stderr)
        return 1
    print_summary(summary, TARGET)
    return 0


if __name__ == '__main__':
    sys.exit(main())
