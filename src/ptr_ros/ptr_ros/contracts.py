"""The JSON messages of the topic contract (DESIGN.md s5), one dataclass each.

Every JSON payload the nodes exchange (std_msgs/String topics and the robot/reset reply) is built
with `to_json`/`to_msg` and read with `from_json`/`from_msg`, which raise ContractError naming the
topic, the field, what was expected and what came: a renamed or mistyped key fails loudly at the
reader instead of silently breaking the graph. Unknown keys are ignored (a newer writer may add
fields); `TrainerStatus.metrics` and `NodeStatus.detail` carry the open-ended parts.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

T = TypeVar('T', bound='Contract')


class ContractError(ValueError):
    """A JSON message that does not match its contract (one line: topic, field, expected, got)."""


class Contract:
    """JSON (de)serialization with type checks; subclasses are dataclasses with a TOPIC."""

    TOPIC: ClassVar[str] = ''
    OPEN: ClassVar[str] = ''  # name of a dict field that collects every key not declared

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if 'key' in f.metadata:  # a JSON key that is no Python name ('return')
                d[f.metadata['key']] = d.pop(f.name)
        if self.OPEN:
            d.update(d.pop(self.OPEN))
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_msg(self) -> Any:
        from std_msgs.msg import String
        return String(data=self.to_json())

    @classmethod
    def from_json(cls: type[T], text: str | bytes, where: str = '') -> T:
        where = where or cls.TOPIC
        try:
            d = json.loads(text)
        except (ValueError, TypeError) as e:
            raise ContractError(f'{where}: expected a JSON object, got {str(text)[:60]!r} '
                                f'({e})') from None
        return cls.from_dict(d, where)

    @classmethod
    def from_dict(cls: type[T], d: Any, where: str = '') -> T:
        where = where or cls.TOPIC
        if not isinstance(d, dict):
            raise ContractError(f'{where}: expected a JSON object, got {type(d).__name__}')
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name == cls.OPEN:
                continue
            key = f.metadata.get('key', f.name)
            if key not in d:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ContractError(f'{where}: field {key!r}: missing (got keys '
                                        f'{sorted(d)})')
                continue
            values[f.name] = _check(d[key], hints[f.name], f'{where}: field {key!r}')
        if cls.OPEN:
            taken = {f.metadata.get('key', f.name) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
            values[cls.OPEN] = {k: v for k, v in d.items() if k not in taken}
        return cls(**values)

    @classmethod
    def from_msg(cls: type[T], msg: Any, where: str = '') -> T:
        return cls.from_json(msg.data, where)


def _check(value: Any, hint: Any, where: str) -> Any:
    """`value` as the annotated type (int/float/bool/str/dict/None-able), else ContractError."""
    args = typing.get_args(hint)
    if type(None) in args:  # X | None
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str)}
    base = typing.get_origin(hint) or hint
    if base is dict:
        if not isinstance(value, dict):
            raise ContractError(f'{where}: expected an object, got {value!r}')
        return value
    if base in ok and not ok[base](value):
        raise ContractError(f'{where}: expected {base.__name__}, got {value!r}')
    return float(value) if base is float else value


@dataclass
class RewardInfo(Contract):
    """ptr/reward_info: the classifier's verdict on the frame with this header stamp."""

    TOPIC: ClassVar[str] = 'ptr/reward_info'
    stamp_ns: int
    prob: float
    reward: float


@dataclass
class SimStatus(Contract):
    """sim/status: the simulator's privileged view of each step (sim only, never learned from)."""

    TOPIC: ClassVar[str] = 'sim/status'
    task: str
    episode: int
    step: int
    reward: float
    success: bool
    terminated: bool
    truncated: bool
    stamp_ns: int


@dataclass
class TaskInfo(Contract):
    """sim/task: the task and episode the bridge has just reset to."""

    TOPIC: ClassVar[str] = 'sim/task'
    task: str
    episode: int


@dataclass
class ResetReply(Contract):
    """robot/reset's Trigger message: the stamp of the first observation after the reset."""

    TOPIC: ClassVar[str] = 'robot/reset'
    stamp_ns: int
    task: str = ''
    episode: int = 0


@dataclass
class PolicyVersion(Contract):
    """ptr/policy_version: the weights version the policy node acts with."""

    TOPIC: ClassVar[str] = 'ptr/policy_version'
    version: int
    fingerprint: str = ''
    ticks: int = 0


@dataclass
class TrainerStatus(Contract):
    """ptr/trainer_status: how far the trainer is; `metrics` holds its latest losses."""

    TOPIC: ClassVar[str] = 'ptr/trainer_status'
    OPEN: ClassVar[str] = 'metrics'
    episodes: int
    env_steps: int
    updates: int
    version: int
    pending: int
    rollbacks: int = 0
    guard: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, Any] = field(default_factory=dict)  # episodes stored per episode-writer run
    sampled_online: int = 0  # transitions the updates drew from the robot's own episodes
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class EpisodeAnnouncement(Contract):
    """ptr/episode: an episode is stored, as the one-episode dataset shard `name` (<task>/shard-..)
    at `path` on the writer's disk; with transfer 'inline' its packed bytes travel as signed
    packets on ptr/episode_data (no shared disk). `sha256` is that of the packed shard."""

    TOPIC: ClassVar[str] = 'ptr/episode'
    path: str
    sha256: str
    length: int
    task: str
    ret: float = field(metadata={'key': 'return'})
    name: str = ''
    transfer: str = 'file'
    success: bool = False
    size: int = 0
    run: str = ''


@dataclass
class NodeStatus(Contract):
    """ptr/status: a node's phase for people and dashboards; `detail` is per node."""

    TOPIC: ClassVar[str] = 'ptr/status'
    OPEN: ClassVar[str] = 'detail'
    node: str
    state: str
    message: str = ''
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class NodeReady(Contract):
    """ptr/ready (latched, one sample per publisher): a node has loaded what it needs and can do
    its part (`what`: policy, classifier, reset); `detail` says what it loaded (fingerprint,
    checkpoint). Episodes are started and counted only once every required part said so."""

    TOPIC: ClassVar[str] = 'ptr/ready'
    node: str
    what: str
    detail: str = ''


@dataclass
class TeleopEvent(Contract):
    """teleop/episode: the operator started an episode or ended it (success, failure, discard).

    `stamp_ns` is the stamp of the episode's first observation (robot/reset's reply), so the
    recorder can keep that observation although it came before this event."""

    TOPIC: ClassVar[str] = 'teleop/episode'
    event: str
    episode: int
    task: str
    stamp_ns: int = 0
    notes: str = ''


@dataclass
class BagRecorded(Contract):
    """teleop/recorded: an episode's bag is closed and in place (or was discarded: path '')."""

    TOPIC: ClassVar[str] = 'teleop/recorded'
    DEPTH: ClassVar[int] = 10  # latched: a confirmation sent before the teleop node matched
    episode: int
    outcome: str  # success, failure, discard, or refused (not a demonstration: `reason`)
    path: str = ''
    messages: int = 0
    reason: str = ''
