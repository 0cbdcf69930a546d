"""The stage functions of an experiment: collect data, train, select a checkpoint and evaluate.

Each is `fn(work, params, deps) -> result` (JSON-able) and runs in its own process
(ptr_bringup.experiments.engine). `deps` maps a dependency's name to its result plus 'dir'.
Training goes through the same entry points as the `ptr` commands, so a table measures what a
user runs.
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ptr_bringup.experiments.engine import stage_cores

if TYPE_CHECKING:
    from ptr_sim.parallel_eval import EvalPool

Result = dict[str, Any]


# ---- data ----------------------------------------------------------------------------------
def _camera(task: str, offset: list[float] | None):
    """The task's kitchen camera, moved by `offset` (m) for a novel viewpoint (PTR Table VIII)."""
    if not offset:
        return None
    from ptr_sim.camera import CameraConfig
    from ptr_sim.tasks import KITCHENS, get_task
    k = KITCHENS[get_task(task).kitchen]
    return CameraConfig().shifted(tuple(a + b for a, b in zip(k.camera_offset, offset)))


def _rollout_group(env, writer, g: dict[str, Any]) -> dict[str, int]:
    """One group of scripted episodes into `writer`, stored under the folder g['folder']."""
    from ptr_sim.collect import rollout
    from ptr_sim.scripted import make_scripted_policy
    want, written, attempts, successes = g['episodes'], 0, 0, 0
    max_attempts = want if not g.get('successes_only') else 20 * want + 20
    while written < want and attempts < max_attempts:
        seed = g['seed'] + attempts
        attempts += 1
        policy = make_scripted_policy(g['task'], env, g['noise'], np.random.default_rng(seed),
                                      skills=g.get('skills', 'all'),
                                      style=g.get('style', 'script'))
        traj = rollout(env, policy, g['task'], seed, g['noise'],
                       stop=lambda p=policy: p.finished)
        successes += int(traj.success)
        if g.get('successes_only') and not traj.success:
            continue
        writer.add(replace(traj, task=g.get('folder') or g['task']))
        written += 1
    if written < want:
        raise RuntimeError(f"collect {g['task']}: {written} of {want} scripted episodes kept "
                           f'in {attempts} attempts')
    return {'episodes': written, 'attempted': attempts, 'successes': successes}


def collect(work: Path, p: dict[str, Any], deps: dict[str, Result]) -> Result:
    """A dataset of scripted episode groups at work/data (written whole, then renamed in).

    params: image_size; camera_offset (m, or None); groups: [{task, episodes, noise, seed,
    successes_only, folder (the task folder to store under: COG gives prior data the target's
    task id), skills ('all', or 'prefix': the drawer-grasp tasks' unblock/open skills only),
    style ('script', or 'teleop': moves like a person, ptr_sim.scripted.OperatorStyle)}].
    """
    import ptr_sim
    from ptr_core.atomic import atomic_dir
    from ptr_core.data import DatasetWriter
    out = work / 'data'
    if out.exists():  # a finished rename whose result.json was not written
        shutil.rmtree(out)
    groups = []
    with atomic_dir(out) as tmp:
        with DatasetWriter(tmp, shard_episodes=64) as writer:
            for g in p['groups']:
                env = ptr_sim.make_env(g['task'], image_size=p['image_size'],
                                       camera=_camera(g['task'], p.get('camera_offset')))
                try:
                    groups.append({**g, **_rollout_group(env, writer, g)})
                finally:
                    env.close()
                print(f"collected {groups[-1]['episodes']} x {g['task']} (noise {g['noise']}, "
                      f"{groups[-1]['successes']}/{groups[-1]['attempted']} succeeded)",
                      flush=True)
    return {'path': str(out), 'groups': groups}


# ---- training ------------------------------------------------------------------------------
COMMANDS = {'pretrain': 'ptr_core.cli:pretrain_main', 'finetune': 'ptr_core.cli:finetune_main',
            'train': 'ptr_core.cli:train_main'}


def _entry(name: str) -> Callable[[list[str]], int]:
    import importlib
    mod, fn = COMMANDS[name].split(':')
    return getattr(importlib.import_module(mod), fn)


def train(work: Path, p: dict[str, Any], deps: dict[str, Result]) -> Result:
    """`ptr <command> ARGV` into work/run, `snapshots` checkpoints along the way; resumes.

    params: command (pretrain | finetune | train), steps, snapshots, argv (tokens '@name' are
    replaced by the dependency's path: a dataset folder or a checkpoint).
    """
    from ptr_core.checkpoint import latest
    from ptr_core.select import find_checkpoints
    run = work / 'run'
    argv = [deps[t[1:]]['path'] if t.startswith('@') else str(t) for t in p['argv']]
    every = max(1, p['steps'] // p['snapshots'])
    argv += ['--out', str(run), '--steps', str(p['steps']), '--no-tensorboard', '--no-progress',
             '--set', f'train.ckpt_every={every}', '--set', 'train.log_every=50']
    if (run / 'checkpoints').is_dir() and latest(run) is not None:
        argv.append('--resume')
    if (rc := _entry(p['command'])(argv)) != 0:
        raise RuntimeError(f"ptr {p['command']} exited {rc} (see log.txt)")
    ckpts = [str(c) for c in find_checkpoints(run / 'checkpoints')]
    return {'path': str(latest(run)), 'checkpoints': ckpts}


# ---- selection and evaluation -----------------------------------------------------------------
def _heldout(path: str, task: str | None = None) -> list:
    from ptr_core.data import Dataset
    ds = Dataset(path)
    return [t for name in ([task] if task else ds.tasks) for t in ds[name]]


def _score_q(ckpt: str, trajs: list, task: str) -> float:
    """PTR's selection: monotonicity of Q along held-out successful demos (ptr select)."""
    from ptr_core.agent import Agent
    from ptr_core.data.rewards import RewardConfig
    from ptr_core.select import AgentQ, score_q_fn
    from ptr_core.task_registry import TaskRegistry
    agent = Agent.load(ckpt, restore_rng=False)
    reg = TaskRegistry.from_dict(agent.tasks)
    score, _, _ = score_q_fn(AgentQ(agent, reg.id(task)), trajs,
                             RewardConfig.ptr(agent.cfg.agent.discount))
    return score


def _score_mse(ckpt: str, trajs: list, task: str) -> float:
    """Imitation's selection: minus the greedy policy's action error on held-out demos."""
    import torch

    from ptr_core.policy import DeployablePolicy
    pol = DeployablePolicy.load(ckpt, task)
    err = []
    with torch.no_grad():
        for tr in trajs:
            for t in range(len(tr)):
                a = pol.act(tr.images[t], tr.states[t], greedy=True)
                err.append(float(np.mean((a - tr.actions[t]) ** 2)))
    return -float(np.mean(err))


SCORERS = {'q': _score_q, 'mse': _score_mse}


def select_and_evaluate(work: Path, p: dict[str, Any], deps: dict[str, Result]) -> Result:
    """Pick a checkpoint without looking at success (held-out demos only), then evaluate it.

    params: policy_task (the task id the policy acts under), select ('q' | 'mse' | 'last'),
    heldout_task (folder in the 'heldout' dependency), evals: {column: {task, episodes, seed,
    camera_offset}}, image_size, select_after (fraction of the run whose checkpoints are never
    chosen: PTR's early, fluctuating phase), snapshot_episodes (> 0: every checkpoint is also
    evaluated on that many episodes, for the learning curve and for how well the selection
    score ranks the checkpoints).
    """
    cores = stage_cores()
    pool = None
    if cores > 1:  # one pool of workers for every evaluation of this stage
        from ptr_sim.parallel_eval import EvalPool
        pool = EvalPool(cores)
        print(f'evaluating over {cores} worker processes', flush=True)
    try:
        return _select_and_evaluate(p, deps, pool)
    finally:
        if pool is not None:
            pool.close()


def _select_and_evaluate(p: dict[str, Any], deps: dict[str, Result],
                         pool: 'EvalPool | None') -> Result:
    from ptr_core.select import step_of
    ckpts = deps['run']['checkpoints'] or [deps['run']['path']]
    scores: list[tuple[int, float]] = []
    if p['select'] == 'last' or len(ckpts) == 1:
        chosen = ckpts[-1]
    else:
        trajs = _heldout(deps['heldout']['path'], p.get('heldout_task'))
        for c in ckpts:
            scores.append((step_of(Path(c)), SCORERS[p['select']](c, trajs, p['policy_task'])))
            print(f'{Path(c).name}: {p["select"]} score {scores[-1][1]:.4f}', flush=True)
        chosen = ckpts[selectable(scores, p.get('select_after', 0.0))]
    out = {'selected': chosen, 'selected_step': step_of(Path(chosen)), 'scores': scores,
           'evals': _evaluate_all(chosen, p, pool)}
    # The last checkpoint too, when selection chose another: what selection gained or lost.
    out['evals_last'] = (out['evals'] if chosen == ckpts[-1]
                         else _evaluate_all(ckpts[-1], p, pool))
    if p.get('snapshot_episodes', 0) > 0 and len(ckpts) > 1:
        small = {**p, 'evals': {c: {**e, 'episodes': p['snapshot_episodes']}
                                for c, e in p['evals'].items()}}
        out['snapshots'] = [{'step': step_of(Path(c)), 'evals': _evaluate_all(c, small, pool)}
                            for c in ckpts]
    return out


def selectable(scores: list[tuple[int, float]], after: float) -> int:
    """Index of the best-scoring checkpoint past the first `after` of the run (ties: later)."""
    last = max(step for step, _ in scores)
    ok = [i for i, (step, _) in enumerate(scores) if step > after * last] or [len(scores) - 1]
    return max(ok, key=lambda i: (scores[i][1], scores[i][0]))


def _evaluate_all(ckpt: str, p: dict[str, Any], pool: 'EvalPool | None' = None
                  ) -> dict[str, dict[str, Any]]:
    """Every column's evaluation of one checkpoint, in this process or over `pool`'s workers
    (ptr_sim.parallel_eval.EvalPool: the same episodes and outcomes either way)."""
    import ptr_sim
    from ptr_core.policy import DeployablePolicy
    from ptr_sim.evaluate import CheckpointPolicy, evaluate
    policy = None if pool is not None else DeployablePolicy.load(ckpt, p['policy_task'])
    evals = {}
    for col, e in p['evals'].items():
        camera = _camera(e['task'], e.get('camera_offset'))
        starts = e.get('starts', 'demo')
        if pool is not None:
            r = pool.evaluate(ckpt, e['task'], e['episodes'], e['seed'], p['image_size'],
                              p['policy_task'], camera=camera, starts=starts)
        else:
            env = ptr_sim.make_env(e['task'], image_size=p['image_size'], camera=camera,
                                   starts=starts)
            try:
                r = evaluate(CheckpointPolicy(policy, True, e['seed']), e['task'],
                             e['episodes'], seed=e['seed'], image_size=p['image_size'], env=env)
            finally:
                env.close()
        print(f'{Path(ckpt).name} {col}: {r.summary()}', flush=True)
        evals[col] = {'successes': r.successes, 'episodes': r.episodes,
                      'mean_length': float(np.mean(r.lengths)),
                      'one_goal': int(sum(g >= 1 for g in r.goals_met))} | start_counts(r)
    return evals


def start_counts(r: Any) -> dict[str, int]:
    """An evaluation's successes and episodes per start kind, when not all were demo starts
    (ptr_sim.evaluate.EvalResult.start_kinds; read by the report's starts section)."""
    if all(k == 'demo' for k in r.start_kinds):
        return {}
    out = {}
    for kind in ('demo', 'ood'):
        out[f'{kind}_successes'], out[f'{kind}_episodes'] = r.by_start(kind)
    return out


STAGES: dict[str, Callable[[Path, dict[str, Any], dict[str, Result]], Result]] = {
    'collect': collect, 'train': train, 'evaluate': select_and_evaluate}


# ---- online (the real online graph over DDS) ------------------------------------------------
def _budget(p: dict[str, Any]):
    from ptr_bringup.demo_budget import BUDGETS, with_changes
    return with_changes(BUDGETS[p['budget']], p.get('budget_changes', {}))


def offline_init(work: Path, p: dict[str, Any], deps: dict[str, Result]) -> Result:
    """`ptr demo`'s offline stages (data, pre-training, 10-demo fine-tuning, the reset policy,
    the success classifier); resumable stage by stage like the demo itself."""
    from ptr_bringup import demo
    summary = demo.run_demo(work / 'demo', _budget(p), seed=p['seed'], online=False)
    return {'path': summary['paths']['finetune'], 'checkpoints': [summary['paths']['finetune']],
            'paths': summary['paths'], 'before': summary['before']}


def fresh_agent(work: Path, p: dict[str, Any], deps: dict[str, Result]) -> Result:
    """An untrained agent with the offline agent's network and tasks (p['network']: network
    fields changed, e.g. RLPD's LayerNorm critics): the start of a learner from demos alone."""
    import dataclasses

    from ptr_core.agent import Agent
    from ptr_core.atomic import atomic_path
    from ptr_core.config import validate
    src = Agent.load(deps['offline']['path'], restore_rng=False)
    cfg = src.cfg
    cfg.train.seed = p['seed']
    if p.get('network'):
        cfg.network = dataclasses.replace(cfg.network, **p['network'])
        validate(cfg)
    agent = Agent(cfg, src.tasks, src.target_task)
    out = work / 'fresh.pt'
    with atomic_path(out, suffix='.pt') as tmp:
        agent.save(tmp)
    return {'path': str(out), 'checkpoints': [str(out)]}


def online(work: Path, p: dict[str, Any], deps: dict[str, Result]) -> Result:
    """Run the online graph from a start agent, then evaluate its published checkpoints.

    params: budget, budget_changes, seed, task, eval_episodes, eval_seed, points (how many
    checkpoints along the run are evaluated). deps: offline (offline_init), start (optional:
    another start agent than the offline policy).
    """
    import json

    from ptr_bringup.demo_online import run_online
    from ptr_core.policy import DeployablePolicy
    from ptr_core.select import step_of
    from ptr_sim.evaluate import CheckpointPolicy, evaluate
    paths = {k: Path(v) for k, v in deps['offline']['paths'].items()}
    if 'start' in deps:
        paths['finetune'] = Path(deps['start']['path'])
    b = _budget(p)
    starts = p.get('starts', 'demo')
    res = run_online(paths, work / 'online', b, seed=p['seed'], starts=starts)
    if res.get('exit_code') not in (0, None) and not res['history']:
        raise RuntimeError(f"online graph exited {res.get('exit_code')} with no episode "
                           f"(see {work / 'online' / 'graph.log'})")
    tel = work / 'online' / 'telemetry' / 'telemetry.jsonl'
    rows = [json.loads(x) for x in tel.read_text().splitlines()] if tel.is_file() else []
    ckpts = sorted((work / 'online' / 'checkpoints').glob('online_*.pt'), key=step_of)
    picks = sorted({ckpts[round(i * (len(ckpts) - 1) / max(1, p['points'] - 1))]
                    for i in range(p['points'])}, key=step_of) \
        if ckpts else []
    curve = []

    def greedy(ckpt: Path) -> Any:
        return evaluate(CheckpointPolicy(DeployablePolicy.load(ckpt, p['task']), True,
                                         p['eval_seed']), p['task'], p['eval_episodes'],
                        seed=p['eval_seed'], image_size=b.image_size, starts=starts)

    r = greedy(paths['finetune'])
    curve.append((0, 0, r.successes, r.episodes))
    for c in picks:
        u = step_of(c)
        r = greedy(c)
        curve.append((u, env_steps_at(rows, u), r.successes, r.episodes))
        print(f'{c.name}: update {u}, env steps {curve[-1][1]}: {r.successes}/{r.episodes}',
              flush=True)
    prune_unevaluated(ckpts, picks)
    hist = res['history']
    return {'evals': {p['task']: {'successes': r.successes, 'episodes': r.episodes}
                      | start_counts(r)}, 'curve': curve,
            'episodes': len(hist), 'env_steps': int(sum(h['length'] for h in hist)),
            'online_successes_sim': int(sum(h['sim_success'] for h in hist)),
            'online_successes_classifier': int(sum(h['success'] for h in hist)),
            # the classifier's successes the sim confirms (its episode precision and recall)
            'online_successes_both': int(sum(h['success'] and h['sim_success'] for h in hist))}


def prune_unevaluated(ckpts: list[Path], keep: list[Path]) -> int:
    """Delete the run's checkpoints that were not evaluated; how many went.

    Why: the trainer saves the agent at every published version (26 MB each at 48 px), so one
    60-episode stage held 3.4 GB and a table filled the disk; the result needs only the
    evaluated ones (the newest among them, so a rerun of the graph could still resume).
    """
    kept = set(keep)
    gone = [c for c in ckpts if c not in kept]
    for c in gone:
        c.unlink(missing_ok=True)
    return len(gone)


def env_steps_at(rows: list[dict], update: int) -> int:
    """Online env steps the trainer had received when it had made `update` updates."""
    steps, last_update = 0, 0
    for r in rows:
        if r['kind'] == 'train':
            last_update = r['step']
        elif r['kind'] == 'episode' and last_update <= update:
            steps = r['env_steps']
    return steps


STAGES.update({'offline_init': offline_init, 'fresh_agent': fresh_agent, 'online': online})
