"""Stage builders the tables share: data collection, training runs and evaluations of a preset.

Seeds: seed s draws its own scripted data, training randomness and evaluation starts; within a
seed every row is evaluated on the same starts (paired). Checkpoints are chosen without looking
at success: CQL rows by PTR's Q-monotonicity on held-out demos, imitation rows by their action
error on the same demos.
"""
from __future__ import annotations

from typing import Any

from ptr_bringup.experiments.engine import Stage
from ptr_bringup.experiments.presets import ExperimentPreset

# Steps per second on one core at 48x48, batch 32 (measured here), for time-left estimates only.
CQL_SPS, BC_SPS, EVAL_S_PER_STEP = 11.0, 30.0, 0.009


def learner_sets(p: ExperimentPreset, seed: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The learner's `--set` flags that carry the preset (and the row's `extra` changes)."""
    sets = [f'network.image_size={p.image_size}', f'train.batch_size={p.batch_size}',
            f'network.shared_encoder={str(p.shared_encoder).lower()}',
            f'network.use_state={str(p.use_state).lower()}',
            f'agent.cql_alpha={p.cql_alpha}', f'agent.discount={p.discount}',
            f'agent.init_temperature={p.init_temperature}',
            f'agent.temperature_lr={p.temperature_lr}',
            'train.val_fraction=0', f'train.seed={seed}', *p.network, *extra]
    return [x for s in sets for x in ('--set', s)]


def bc_sets(p: ExperimentPreset) -> list[str]:
    """BC rows: PTR table XI's dropout in the policy MLP."""
    return ['--set', f'network.policy_dropout={p.bc_dropout}']


def cog_sets(p: ExperimentPreset) -> list[str]:
    """CQL joint (COG) rows: COG appendix A's alpha, discount, batch and BC warm-start."""
    return [x for s in (f'agent.cql_alpha={p.cog_alpha}', f'agent.discount={p.cog_discount}',
                        f'agent.bc_warmstart_steps={p.cog_bc_warmstart}',
                        f'train.batch_size={p.cog_batch_size}') for x in ('--set', s)]


def data(p: ExperimentPreset, groups: list[dict[str, Any]], label: str,
         camera_offset: list[float] | None = None) -> Stage:
    n = sum(g['episodes'] for g in groups)
    return Stage('collect', {'image_size': p.image_size, 'groups': groups,
                             'camera_offset': camera_offset},
                 label=label, cost=1.0 + 0.15 * n)


def train(p: ExperimentPreset, command: str, argv: list[str], steps: int, deps: dict,
          label: str, algo: str = 'cql') -> Stage:
    sps = CQL_SPS if algo == 'cql' else BC_SPS if algo == 'bc' else CQL_SPS / 2
    return Stage('train', {'command': command, 'argv': argv, 'steps': steps,
                           'snapshots': p.snapshots}, deps, label, cost=10 + steps / sps)


def evaluate(p: ExperimentPreset, run: Stage, heldout: Stage, policy_task: str, select: str,
             evals: dict[str, dict[str, Any]], label: str, horizon: int = 40) -> Stage:
    n = sum(e['episodes'] for e in evals.values())
    curve = p.snapshot_episodes * p.snapshots * len(evals)
    return Stage('evaluate', {'policy_task': policy_task, 'select': select,
                              'image_size': p.image_size, 'evals': evals,
                              'select_after': p.select_after,
                              'snapshot_episodes': p.snapshot_episodes},
                 {'run': run, 'heldout': heldout}, label,
                 cost=5 + 3 * p.snapshots + (2 * n + curve) * horizon * EVAL_S_PER_STEP,
                 max_cores=p.jobs)
