"""Typed configuration of the learner with the papers' defaults, presets, YAML and CLI overrides.

Why dataclasses: every setting has one documented home, a type that overrides are checked against,
and a plain-dict form that travels inside checkpoints (a checkpoint must describe its own network).
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration key or value is wrong (the message names the key, expected and got)."""


@dataclass
class NetworkConfig:
    """Encoders, Q-function and policy shapes (PTR DESIGN.md s4; COG appendix A)."""

    image_size: int = 64  # square input images, pixels
    encoder: str = 'impala'  # resnet18 | resnet34 | resnet50 | cog_conv | impala
    norm: str = 'group'  # group (GroupNorm, 4 groups) | batch (ablation); ResNets only
    pooling: str = 'spatial_embedding'  # spatial_embedding | spatial_softmax | gap | flatten
    num_spatial_features: int = 8  # K of the learned (H, W, C, K) spatial-embedding kernel
    bottleneck_dim: int = 256  # Dense-LayerNorm-tanh after pooling; 0 disables it
    impala_channels: tuple[int, ...] = (16, 32, 32)  # IMPALA stack widths
    impala_norm: str = 'none'  # none | group | batch: after each IMPALA stack's conv (ablation)
    cog_channels: int = 16  # COG conv width (3 layers of 3x3)
    q_hidden: tuple[int, ...] = (256, 256, 256)  # Q-MLP hidden sizes
    q_concat_every_layer: bool = True  # action + embedding at every layer (False: input only)
    num_qs: int = 2  # critics evaluated in one batched call
    q_layer_norm: bool = False  # LayerNorm on each Q hidden layer (RLPD; off: PTR, COG, CQL)
    policy_hidden: tuple[int, ...] = (256, 256, 256)  # policy MLP hidden sizes
    policy_dropout: float = 0.0  # dropout in the policy MLP (BC uses it)
    log_std_min: float = -5.0  # tanh-Gaussian log-std clip
    log_std_max: float = 2.0  # upper log-std clip
    shared_encoder: bool = False  # actor reuses the critic encoder (detached); paper: separate
    num_tasks: int = 64  # size of the task one-hot (placeholders included)
    channels_last: bool = True  # memory format of image tensors (faster convolutions on CPU)
    state_scaling: bool = True  # state -> [-1, 1] by the arm's workspace (constants.STATE_*)
    use_state: bool = True  # 7-d state beside the image (PTR fig. 2: image + task id only)


@dataclass
class SharedAgentConfig:
    """Settings every learner reads (the algorithm, the actor, the deployed average)."""

    algo: str = 'cql'  # cql | bc | awbc (ptr_core.learners.registry)
    discount: float = 0.96  # gamma of the TD target and the MC returns (PTR: 0.96)
    policy_lr: float = 1e-4  # actor Adam learning rate
    grad_clip: float = 0.0  # global grad-norm clip per network; 0 disables
    policy_ema: float = 0.0  # deploy an exponential average of the policy (decay; 0: off)
    unshare_encoder: bool = False  # shared_encoder nets: the actor trains its own copy (online)


@dataclass
class CQLConfig:
    """CQL(H) with PTR's choices and Cal-QL (ptr_core.learners.cql)."""

    cql_alpha: float = 10.0  # weight of the conservative term
    num_policy_actions: int = 4  # policy samples at s in the logsumexp
    num_uniform_actions: int = 4  # uniform samples in the logsumexp
    num_next_actions: int = 4  # policy samples at s' (max-backup and the logsumexp)
    next_actions_in_lse: bool = True  # include Q(s, a' ~ pi(s')) in the logsumexp (CQL code)
    importance_sampling: bool = True  # subtract log-densities inside the logsumexp
    max_backup: bool = True  # target = max over sampled next actions of min_i Q_i
    backup_entropy: bool = False  # subtract alpha * log pi in the backup
    target_entropy: float = -7.0  # SAC entropy target (-|A|)
    auto_entropy: bool = True  # learn the temperature towards target_entropy
    init_temperature: float = 1.0  # SAC temperature at the start of training
    q_lr: float = 3e-4  # critic Adam learning rate
    temperature_lr: float = 1e-4  # Adam learning rate of log(temperature)
    polyak: float = 0.005  # target <- (1 - polyak) target + polyak online
    calql: bool = False  # lower-bound policy-sample Q-values in the penalty by mc_return
    bc_warmstart_steps: int = 0  # policy trained by max-likelihood BC for this many steps (COG)


@dataclass
class AWBCConfig:
    """Advantage-weighted BC from a frozen critic (ptr_core.learners.imitation)."""

    awbc_temperature: float = 1.0  # weights exp((Q(s,a) - max Q) / temperature)
    awbc_num_actions: int = 16  # sampled actions used to estimate max_a' Q(s, a')
    awbc_max_weight: float = 20.0  # clip of the advantage weights


@dataclass
class AgentConfig(AWBCConfig, CQLConfig, SharedAgentConfig):
    """The `agent.*` keys users set: the shared fields and every algorithm's, one flat section.

    Each learner class reads its own part (its `settings` type); BC reads the shared part only.
    """


@dataclass
class TrainConfig:
    """The training loop: steps, batches, mixing, logging and checkpoints."""

    steps: int = 100_000  # gradient steps of a run (the commands' --steps wins)
    batch_size: int = 64  # transitions per gradient step (all ranks together)
    log_every: int = 100  # scalars to TensorBoard every n steps
    ckpt_every: int = 5_000  # checkpoint every n steps
    seed: int = 0  # seeds networks, sampling and augmentation
    tau: float = 1.0  # fraction of each batch from the prior data (pre-train 1.0, fine-tune 0.9)
    val_fraction: float = 0.1  # held-out episodes per task
    device: str = 'cpu'  # torch device of the update (cpu | cuda | cuda:N)
    compile: bool = False  # torch.compile the update (only if it pays on this machine)
    augment: bool = True  # random shift + color jitter on observations
    prefetch: int = 2  # batches sampled ahead in a background thread (0: sample inline)
    reward_last_n: int = 3  # last_n labels: final transitions of a success that get +1 (PTR: 3)


@dataclass
class Config:
    """Everything a run needs; `preset` names the defaults it started from."""

    preset: str = 'ptr_sim_cpu'
    network: NetworkConfig = field(default_factory=NetworkConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = 'config') -> 'Config':
        cfg = preset(d.get('preset', 'ptr_sim_cpu'))
        apply_dict(cfg, d, where)
        return cfg


def _to_plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _to_plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_plain(v) for v in x]
    return x


def _ptr_real() -> Config:
    """PTR real-robot settings (official code): ResNet-34-GN at 128 px, alpha 10, discount 0.96."""
    return Config(
        preset='ptr_real',
        network=NetworkConfig(image_size=128, encoder='resnet34', norm='group',
                              pooling='spatial_embedding', bottleneck_dim=256,
                              q_hidden=(256, 256, 256), policy_hidden=(256, 256, 256),
                              shared_encoder=False),
        agent=AgentConfig(cql_alpha=10.0, num_policy_actions=4, num_uniform_actions=4,
                          num_next_actions=4, discount=0.96, target_entropy=-7.0,
                          q_lr=3e-4, policy_lr=1e-4),
        train=TrainConfig(batch_size=64),
    )


def _ptr_sim_cpu() -> Config:
    """The same algorithm sized for a CPU: 64 px, a small IMPALA encoder.

    policy_ema 0.995: in runs of a few thousand steps the greedy policy swings with the critic
    from one checkpoint to the next; deploying an average over ~200 steps damps the swings.
    """
    return Config(
        preset='ptr_sim_cpu',
        network=NetworkConfig(image_size=64, encoder='impala', pooling='spatial_embedding',
                              bottleneck_dim=256, q_hidden=(256, 256, 256),
                              policy_hidden=(256, 256, 256)),
        agent=AgentConfig(policy_ema=0.995),
        train=TrainConfig(batch_size=64),
    )


def _cog() -> Config:
    """COG (appendix A): 48 px conv net, FC 1024-512-256, alpha 1, 1+1 samples, BC warm-start."""
    return Config(
        preset='cog',
        network=NetworkConfig(image_size=48, encoder='cog_conv', pooling='flatten',
                              bottleneck_dim=0, q_hidden=(1024, 512, 256),
                              q_concat_every_layer=False, policy_hidden=(1024, 512, 256)),
        agent=AgentConfig(cql_alpha=1.0, num_policy_actions=1, num_uniform_actions=1,
                          num_next_actions=1, max_backup=False, discount=0.99,
                          target_entropy=-7.0, bc_warmstart_steps=10_000),
        train=TrainConfig(batch_size=256),
    )


PRESETS = {'ptr_real': _ptr_real, 'ptr_sim_cpu': _ptr_sim_cpu, 'cog': _cog}


def preset(name: str) -> Config:
    """A fresh Config with the named preset's defaults."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError(f'preset: expected one of {sorted(PRESETS)}, got {name!r}') from None


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert `value` (from YAML or a CLI string) to the field type `tp`, or raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if isinstance(value, str):
            value = [v for v in value.strip('()[] ').split(',') if v.strip()]
            value = [yaml.safe_load(v) for v in value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{key}: expected a list of {inner.__name__}, got {value!r}')
        return tuple(_coerce(v, inner, key) for v in value)
    if isinstance(value, str) and tp is not str:
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f'{key}: expected {tp.__name__}, got {value!r}') from None
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads '1e-3' (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f'{key}: expected {tp.__name__}, got {value!r}')


def set_key(cfg: Config, dotted: str, value: Any, where: str = 'override') -> None:
    """Set `section.field` (e.g. 'agent.cql_alpha') with type checking."""
    parts = dotted.split('.')
    if len(parts) != 2:
        raise ConfigError(f'{where}: {dotted!r}: expected section.field '
                          f'(sections: network, agent, train)')
    section, name = parts
    if section not in ('network', 'agent', 'train'):
        raise ConfigError(f'{where}: unknown section {section!r} in {dotted!r}; '
                          f'expected network, agent or train')
    obj = getattr(cfg, section)
    hints = typing.get_type_hints(type(obj))
    if name not in hints:
        raise ConfigError(f'{where}: unknown key {dotted!r}; {section} has '
                          f'{", ".join(sorted(hints))}')
    setattr(obj, name, _coerce(value, hints[name], f'{where}: {dotted}'))


def apply_fields(obj: Any, values: dict[str, Any], where: str) -> Any:
    """Set fields of any config dataclass from a mapping (YAML or parsed CLI), type-checked."""
    if not isinstance(values, dict):
        raise ConfigError(f'{where}: expected a mapping, got {type(values).__name__}')
    hints = typing.get_type_hints(type(obj))
    for name, value in values.items():
        if name not in hints:
            raise ConfigError(f'{where}: unknown key {name!r}; expected one of '
                              f'{", ".join(sorted(hints))}')
        setattr(obj, name, _coerce(value, hints[name], f'{where}: {name}'))
    return obj


# Keys older checkpoints carry that no longer mean anything here: the online settings moved to
# ptr_core.online_config (train.beta only served three-source offline runs, which no command
# builds; train.utd was never read).
RETIRED_KEYS = frozenset({'train.beta', 'train.utd'})


def apply_dict(cfg: Config, d: dict[str, Any], where: str = 'config') -> Config:
    """Apply a nested dict {'network': {...}, 'agent': {...}, 'train': {...}} onto cfg."""
    if not isinstance(d, dict):
        raise ConfigError(f'{where}: expected a mapping at the top level, got {type(d).__name__}')
    for section, values in d.items():
        if section == 'preset':
            continue
        if section not in ('network', 'agent', 'train'):
            raise ConfigError(f'{where}: unknown section {section!r}; '
                              f'expected preset, network, agent or train')
        if not isinstance(values, dict):
            raise ConfigError(f'{where}: {section}: expected a mapping, got {values!r}')
        for name, value in values.items():
            if f'{section}.{name}' not in RETIRED_KEYS:
                set_key(cfg, f'{section}.{name}', value, where)
    validate(cfg)
    return cfg


def parse_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply CLI overrides of the form 'section.field=value'."""
    for item in overrides:
        if '=' not in item:
            raise ConfigError(f'override {item!r}: expected section.field=value')
        key, value = item.split('=', 1)
        set_key(cfg, key.strip(), value.strip(), 'override')
    validate(cfg)
    return cfg


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (empty file: {}), or ConfigError naming it."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except OSError as e:
        raise ConfigError(f'{p}: cannot read config ({e.strerror})') from None
    except yaml.YAMLError as e:
        raise ConfigError(f'{p}: invalid YAML ({str(e).splitlines()[0]})') from None
    if not isinstance(data, dict):
        raise ConfigError(f'{p}: expected a mapping at the top level, got {type(data).__name__}')
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                preset_name: str | None = None) -> Config:
    """Preset defaults, then the YAML file (its `preset:` key picks the base), then overrides."""
    data = read_yaml_mapping(path) if path is not None else {}
    cfg = preset(preset_name or data.get('preset', 'ptr_sim_cpu'))
    apply_dict(cfg, data, str(path) if path else 'config')
    return parse_overrides(cfg, list(overrides or []))


_CHOICES = {
    'network.encoder': ('resnet18', 'resnet34', 'resnet50', 'cog_conv', 'impala'),
    'network.norm': ('group', 'batch'),
    'network.impala_norm': ('none', 'group', 'batch'),
    'network.pooling': ('spatial_embedding', 'spatial_softmax', 'gap', 'flatten'),
}


def validate(cfg: Config) -> None:
    """Check choices and ranges; raise ConfigError naming the field."""
    from ptr_core.learners.registry import ALGOS  # no torch: the registry is names only
    if cfg.agent.algo not in ALGOS:
        raise ConfigError(f'agent.algo: expected one of {list(ALGOS)}, got {cfg.agent.algo!r}')
    for key, choices in _CHOICES.items():
        section, name = key.split('.')
        value = getattr(getattr(cfg, section), name)
        if value not in choices:
            raise ConfigError(f'{key}: expected one of {list(choices)}, got {value!r}')
    n, a, t = cfg.network, cfg.agent, cfg.train
    checks = [
        ('network.image_size', n.image_size >= 16, '>= 16', n.image_size),
        ('network.num_tasks', n.num_tasks >= 1, '>= 1', n.num_tasks),
        ('network.num_qs', n.num_qs >= 1, '>= 1', n.num_qs),
        ('agent.discount', 0.0 <= a.discount < 1.0, 'in [0, 1)', a.discount),
        ('agent.polyak', 0.0 < a.polyak <= 1.0, 'in (0, 1]', a.polyak),
        ('agent.num_next_actions', a.num_next_actions >= 1, '>= 1', a.num_next_actions),
        ('train.batch_size', t.batch_size >= 1, '>= 1', t.batch_size),
        ('train.reward_last_n', t.reward_last_n >= 1, '>= 1', t.reward_last_n),
        ('train.tau', 0.0 <= t.tau <= 1.0, 'in [0, 1]', t.tau),
    ]
    for key, ok, want, got in checks:
        if not ok:
            raise ConfigError(f'{key}: expected {want}, got {got!r}')
