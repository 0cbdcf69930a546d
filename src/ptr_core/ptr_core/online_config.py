"""The online fine-tuning settings: one typed home for every trainer setting (PTR appendix F).

Light on purpose (no torch): the graph descriptions, the trainer node's parameters, the demo's
budget and `ptr config show` all read the defaults from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptr_core.config import ConfigError, apply_fields, read_yaml_mapping

# PTR appendix F: each online batch mixes prior data, target demos and online data 35/15/50 %.
ONLINE_FRACTIONS = (0.35, 0.15, 0.5)
MODES = ('calql', 'residual')  # how the online trainer learns (OnlineConfig.mode)


@dataclass
class OnlineConfig:
    """PTR appendix F defaults, plus the measures that keep the offline policy while it improves.

    With the paper's settings alone the first updates on a buffer of failures can unlearn a good
    policy within tens of updates; the separate actor encoder, the lower online learning rates,
    a frozen-policy warm-up and the ramp of the online share below hold it (README, 'Online
    fine-tuning'). Read by ptr_trainer.online;
    every field is also a trainer-node parameter of the same name, listed by `ptr config show`.
    """

    # Residual is the default: it led Cal-QL in every online table, kept the starts outside the
    # demos that Cal-QL lost, and stayed near its start (README, 'The residual online mode').
    mode: str = 'residual'  # 'residual': the offline policy frozen, a bounded correction and
    # critic-ranked proposals (ptr_core.residual); 'calql': fine-tune actor and critic (PTR V-F)
    residual_bound: float = 0.2  # residual: largest |correction| per normalized action dim
    residual_samples: int = 8  # residual: proposals the critic ranks (at s' and when acting)
    residual_lr: float = 3e-4  # residual: the correction head's lr
    residual_q_lr: float = 3e-5  # residual: the critic's lr (as q_lr: 3e-4 inflated Q)
    residual_reg: float = 0.1  # residual: weight of mean (correction / bound)^2 in its loss
    residual_conservative: bool = True  # residual: keep cql_alpha (and calql) on the critic
    beta: tuple[float, ...] = ONLINE_FRACTIONS  # prior / target demos / online data
    utd: float = 10.0  # gradient updates per new environment transition
    publish_every: int = 100  # K: a new weights version every K updates
    batch_size: int = 64  # transitions per update
    cql_alpha: float = 0.5  # CQL alpha online (PTR App. F: 5 offline, 0.5 online)
    calql: bool = True  # bound the CQL regularizer by the MC return (PTR App. F, Cal-QL)
    policy_lr: float = 1e-5  # actor lr online (offline 1e-4)
    q_lr: float = 3e-5  # critic lr online (offline 3e-4)
    init_temperature: float = 0.0  # > 0: restart the SAC temperature here (0: keep offline's)
    unshare_encoder: bool = True  # a shared-encoder agent gets an actor copy of the encoder
    warmup_episodes: int = 2  # WSRL: episodes collected by the frozen policy before updating
    ramp_transitions: int = 200  # online share grows linearly to beta[2] over this many
    labels: str = 'last_n'  # online rewards: 'last_n' (the offline PTR rule on the classifier's
    # success) or 'recorded' (the classifier's per-step reward)
    reward_scale: float = 11.0  # labels r in {0, 1} -> r * scale + shift: PTR's {-1, +10}
    reward_shift: float = -1.0  # (see reward_scale)
    guard: bool = True  # roll back when classifier-estimated success collapses (guard.py)
    guard_window: int = 8  # episodes in the guard's recent and best windows
    guard_drop: float = 0.3  # success drop (best - recent window) that may roll back
    guard_significance: float = 0.05  # ...only if a one-sided Fisher test gives p below
    telemetry_every: int = 50  # per-source diagnostics every n updates (0: off)
    save_every: int = 0  # agent checkpoint every n updates (0: at every published version)
    seed: int = 0  # sampling seed

    def validate(self) -> 'OnlineConfig':
        if len(self.beta) != 3 or any(b < 0 for b in self.beta) or abs(sum(self.beta) - 1) > 1e-6:
            raise ValueError(f'online config: beta: expected 3 non-negative fractions summing '
                             f'to 1, got {list(self.beta)}')
        if self.utd <= 0 or self.publish_every < 1 or self.batch_size < 1:
            raise ValueError(f'online config: expected utd > 0, publish_every >= 1, '
                             f'batch_size >= 1, got {self.utd}, {self.publish_every}, '
                             f'{self.batch_size}')
        if self.labels not in ('last_n', 'recorded'):
            raise ValueError(f"online config: labels: expected 'last_n' or 'recorded', got "
                             f'{self.labels!r}')
        if self.mode not in MODES:
            raise ValueError(f'online config: mode: expected one of {list(MODES)}, got '
                             f'{self.mode!r}')
        if self.mode == 'residual':
            self.residual_settings().validate()
        if self.warmup_episodes < 0 or self.ramp_transitions < 0:
            raise ValueError(f'online config: expected warmup_episodes >= 0 and '
                             f'ramp_transitions >= 0, got {self.warmup_episodes}, '
                             f'{self.ramp_transitions}')
        return self

    def residual_settings(self):
        """The bound and proposal count the policy node must use too (ptr_core.residual)."""
        from ptr_core.residual import ResidualSettings
        return ResidualSettings(self.residual_bound, self.residual_samples)

    def agent_changes(self) -> dict[str, Any]:
        """What the loaded offline agent changes for online training (agent.* fields, typed)."""
        out: dict[str, Any] = {'cql_alpha': self.cql_alpha, 'calql': self.calql,
                               'policy_lr': self.policy_lr, 'q_lr': self.q_lr,
                               'unshare_encoder': self.unshare_encoder}
        if self.init_temperature > 0:
            out['init_temperature'] = self.init_temperature
        return out

    def fractions(self, online_transitions: int) -> list[float]:
        """The batch mixture after `online_transitions`: the online share ramps up to beta[2]."""
        prior, demos, online = self.beta
        ramp = 1.0 if self.ramp_transitions == 0 else min(1.0, online_transitions
                                                          / self.ramp_transitions)
        share = online * ramp if online_transitions else 0.0
        rest = prior + demos
        if rest == 0:
            return [0.0, 0.0, 1.0]
        return [prior / rest * (1 - share), demos / rest * (1 - share), share]


def load_online_config(path: str | Path | None = None,
                       values: dict[str, Any] | None = None) -> OnlineConfig:
    """Defaults, then a YAML file of OnlineConfig fields, then `values` (e.g. node parameters)."""
    cfg = OnlineConfig()
    if path:
        apply_fields(cfg, read_yaml_mapping(path), str(path))
    if values:
        apply_fields(cfg, values, 'online config')
    try:
        return cfg.validate()
    except ValueError as e:
        raise ConfigError(str(e)) from None
