"""How much of everything one `ptr demo` run does: data, training steps, evaluation, and the
online stage's trainer settings (one typed OnlineConfig, written once for the graph)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ptr_core.constants import START_MODES
from ptr_core.online_config import OnlineConfig


@dataclass(frozen=True)
class Budget:
    """How much of everything one demo run does."""

    image_size: int = 48  # camera / network input size
    prior_tasks: tuple[str, ...] = ('OpenDrawer', 'CloseDrawer', 'PutRedCubeInBlueTray',
                                    'BinSort')  # pre-training tasks (OpenDoor held out)
    prior_episodes: int = 16  # successful near-clean scripted episodes per prior task
    prior_noisy_episodes: int = 12  # noisy scripted episodes per prior task, failures kept
    demo_noise: float = 0.1  # scripted action noise of demos (std, normalized units)
    noisy_noise: float = 0.4  # ... of the noisy prior episodes (COG/Bridge-style play data)
    target_demos: int = 10  # OpenDoor demos for offline fine-tuning (PTR: 10)
    reset_demos: int = 20  # CloseDoor demos for the reset policy (PTR App. F: 22)
    classifier_episodes: int = 16  # OpenDoor episodes whose frames train the classifier
    # Where those episodes start (ptr_core.constants.START_MODES): online, the robot also starts
    # outside the demos (an arm the last episode left elsewhere, a door a failed reset left
    # ajar). Trained on demo starts only, the classifier's online precision on mixed starts was
    # 66 % (docs/results/online.md, session 3); bench/reward_precision.py --starts mixed.
    classifier_starts: str = 'mixed'
    pretrain_steps: int = 900
    finetune_steps: int = 1100
    finetune_tau: float = 0.7  # prior fraction of fine-tuning batches (PTR main paper: 0.7)
    reset_steps: int = 200
    classifier_steps: int = 200
    eval_episodes: int = 20  # OpenDoor evaluations before and after online fine-tuning
    online_episodes: int = 30
    # The online trainer's settings, written once as the graph's online_config YAML; the
    # recipe's own defaults (separate actor encoder, online lrs, warm-up, guard) apply.
    # utd 2 (PTR: 10) is what the trainer keeps up with on two cores.
    trainer: OnlineConfig = field(default_factory=lambda: OnlineConfig(
        utd=2.0, publish_every=20, batch_size=32, ramp_transitions=150, guard_window=6))
    exploration_scale: float = 0.5  # sampled online actions: std x this
    reward_threshold: float = -1.0  # classifier P(success) threshold online (-1: calibrated)
    batch_size: int = 32
    # Extra config overrides. The actor reuses the critic's (detached) encoder: with batch 32
    # this is what learns in a few hundred CPU steps (ptr_sim's learning test); the paper and
    # the full budget keep separate encoders.
    network: tuple[str, ...] = ('network.shared_encoder=true',)
    online_timeout: float = 1500.0  # seconds before the online graph is stopped regardless

    def __post_init__(self) -> None:
        if self.classifier_starts not in START_MODES:
            raise ValueError(f'budget classifier_starts: expected one of {list(START_MODES)}, '
                             f'got {self.classifier_starts!r}')


BUDGETS: dict[str, Budget] = {
    'small': Budget(),
    'full': Budget(image_size=64, prior_episodes=200, prior_noisy_episodes=200,
                   target_demos=10, reset_demos=22, classifier_episodes=60,
                   pretrain_steps=100_000, finetune_steps=20_000, reset_steps=20_000,
                   classifier_steps=3000, eval_episodes=100, online_episodes=200,
                   trainer=OnlineConfig(utd=10.0, publish_every=100, batch_size=64),
                   batch_size=64, network=(), online_timeout=86_400.0),
    # For the smoke test: every stage runs, nothing learns.
    'tiny': Budget(prior_tasks=('CloseDrawer',), prior_episodes=2, prior_noisy_episodes=1,
                   target_demos=2, reset_demos=2, classifier_episodes=2, pretrain_steps=2,
                   finetune_steps=2, reset_steps=2, classifier_steps=5, eval_episodes=1,
                   online_episodes=2, batch_size=8,
                   trainer=OnlineConfig(utd=0.5, publish_every=2, batch_size=8,
                                        warmup_episodes=0, ramp_transitions=0,
                                        telemetry_every=2),
                   network=('network.impala_channels=4,8', 'network.bottleneck_dim=16',
                            'network.q_hidden=16,16', 'network.policy_hidden=16,16'),
                   online_timeout=240.0),
}


def with_changes(b: Budget, changes: dict[str, Any]) -> Budget:
    """`b` with some fields changed; 'trainer' takes a mapping of OnlineConfig fields that
    change the budget's trainer settings (checked like the trainer's own YAML)."""
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
    trainer = changes.pop('trainer', None)
    out = dataclasses.replace(b, **changes)
    if trainer:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in trainer.items()}
        out = dataclasses.replace(out, trainer=dataclasses.replace(b.trainer, **fields).validate())
    return out
