"""Typed presets of the experiment tables: `cpu` (this 2-core machine) and `full` (a GPU).

One dataclass for every table's knobs, so `ptr experiment NAME --set key=value` is checked like
the learner's config. The cpu preset's sizes are what fits a table in under two hours on two
cores: 48x48 images (the learning test's size), batch 32, the IMPALA encoder the actor shares
(detached) with the critic, and a few thousand gradient steps, against PTR's 128x128 ResNet-34
and hundreds of thousands of steps.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

import yaml


@dataclass
class ExperimentPreset:
    seeds: int = 3  # data, training and evaluation starts all differ per seed
    jobs: int = 2  # stages run at once (one torch thread each)
    image_size: int = 48  # rendered images and network input
    batch_size: int = 32
    cql_alpha: float = 5.0  # PTR App. F: 5 offline
    tau: float = 0.7  # prior share of fine-tuning and joint batches (PTR main paper: 0.7)
    network: tuple[str, ...] = ('network.shared_encoder=true',)  # learner overrides
    eval_episodes: int = 50  # per cell and column (seeded starts shared by all rows)
    prior_clean: int = 20  # near-clean scripted successes per prior task (noise 0.1)
    prior_noisy: int = 15  # noisy scripted episodes per prior task, failures kept (noise 0.4)
    target_demos: int = 10  # PTR: 10 demos of the new task
    heldout_demos: int = 5  # extra demos used only to select checkpoints (never trained on)
    pretrain_steps: int = 1500
    finetune_steps: int = 1200
    joint_steps: int = 2500  # from-scratch training on prior + target (COG, BC joint)
    single_steps: int = 1200  # target-only runs and AW-BC
    snapshots: int = 4  # checkpoints per run that selection chooses among
    # stitching (COG Table 1)
    stitch_prior: int = 40  # prior episodes per prior behaviour (no rewards)
    stitch_task: int = 20  # successful task episodes (grasp from the open drawer)
    stitch_steps: int = 2500
    stitch_episodes: int = 30  # evaluation episodes per setting
    # online (PTR Table VI)
    online_budget: str = 'small'  # `ptr demo` budget of the offline start (tiny: a smoke run)
    online_episodes: int = 30  # online episodes per seed (`ptr demo`'s)
    online_utd: float = 2.0
    online_timeout: float = 1500.0  # seconds per online run


PRESETS: dict[str, ExperimentPreset] = {
    'cpu': ExperimentPreset(),
    # The papers' scale: one GPU of the A100/H200 class, 10-20 hours per table (PTR trains 128x128
    # ResNet-34 for 100k+ steps; COG 48x48 convs for 100k+ steps).
    'full': ExperimentPreset(seeds=5, jobs=1, image_size=128, batch_size=64,
                             network=('network.encoder=resnet34', 'network.norm=group',
                                      'train.device=cuda'),
                             eval_episodes=100, prior_clean=200, prior_noisy=200,
                             heldout_demos=10, pretrain_steps=100_000, finetune_steps=20_000,
                             joint_steps=100_000, single_steps=20_000, snapshots=10,
                             stitch_prior=1000, stitch_task=200, stitch_steps=100_000,
                             stitch_episodes=100, online_episodes=200, online_utd=10.0,
                             online_timeout=86_400.0),
}


class PresetError(ValueError):
    """A bad preset override (names the key, expected and got)."""


def with_overrides(p: ExperimentPreset, overrides: list[str]) -> ExperimentPreset:
    """`key=value` overrides, parsed as YAML and checked against the field's type."""
    hints = typing.get_type_hints(ExperimentPreset)
    changes = {}
    for o in overrides:
        key, sep, raw = o.partition('=')
        if not sep or key not in hints:
            known = ', '.join(f.name for f in dataclasses.fields(ExperimentPreset))
            raise PresetError(f'--set {o!r}: expected KEY=VALUE with KEY one of: {known}')
        tp = hints[key]
        if typing.get_origin(tp) is tuple:
            value: object = tuple(v.strip() for v in raw.split(';') if v.strip())
        else:
            value = yaml.safe_load(raw)
            if tp is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, tp) or isinstance(value, bool) != (tp is bool):
                raise PresetError(f'--set {key}: expected {tp.__name__}, got {raw!r}')
        changes[key] = value
    out = dataclasses.replace(p, **changes)
    if out.seeds < 1 or out.jobs < 1 or out.eval_episodes < 1:
        raise PresetError('seeds, jobs, eval_episodes: expected >= 1')
    return out


def as_dict(p: ExperimentPreset) -> dict:
    return {f.name: (list(v) if isinstance(v := getattr(p, f.name), tuple) else v)
            for f in dataclasses.fields(p)}


__all__ = ['ExperimentPreset', 'PRESETS', 'PresetError', 'as_dict', 'with_overrides']
