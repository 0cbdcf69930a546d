"""Task ids: the one-hot task conditioning of PTR's multi-task Q-function and policy.

Why a registry: the one-hot width is fixed when the networks are built (at pre-training), but the
target task arrives later. PTR reserves ids for target tasks that no pre-training data uses, so a
fine-tuning run can claim one without changing any layer; alternatively new data is re-targeted to
an existing task's id (e.g. a new object for an old skill). The registry travels in checkpoints as
JSON, so a policy node maps the same task name to the same input unit.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

PLACEHOLDER_PREFIX = '__target_'
FORMAT = 'ptr-tasks/1'


def _placeholder_name(i: int) -> str:
    return f'{PLACEHOLDER_PREFIX}{i}__'


@dataclass
class TaskRegistry:
    """Ordered task names -> ids; ids [0, len(names)) index the one-hot vector.

    `names[i]` is the canonical name of id i (placeholders are named `__target_<k>__` until
    claimed); `aliases` maps extra names (re-targeted data) onto an existing id.
    """

    names: list[str] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls, tasks: Iterable[str], num_placeholders: int = 0) -> 'TaskRegistry':
        """Registry of `tasks` (order kept, duplicates dropped) plus reserved target ids."""
        reg = cls()
        for t in tasks:
            if t not in reg:
                reg.add(t)
        reg.reserve(num_placeholders)
        return reg

    # ---- queries -------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """One-hot width: every id, placeholders included."""
        return len(self.names)

    def __len__(self) -> int:
        return self.size

    def __contains__(self, name: object) -> bool:
        return name in self.names or name in self.aliases

    @staticmethod
    def is_placeholder(name: str) -> bool:
        return name.startswith(PLACEHOLDER_PREFIX)

    @property
    def placeholder_ids(self) -> list[int]:
        """Ids reserved for target tasks and not yet claimed (unused in pre-training)."""
        return [i for i, n in enumerate(self.names) if self.is_placeholder(n)]

    @property
    def task_names(self) -> list[str]:
        """Real (non-placeholder) canonical names, in id order."""
        return [n for n in self.names if not self.is_placeholder(n)]

    def id(self, name: str) -> int:
        """Id of a task or alias; a one-line KeyError naming the known tasks otherwise."""
        if name in self.aliases:
            return self.aliases[name]
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f'task {name!r}: not in the registry; known: '
                           f'{self.task_names + sorted(self.aliases)}') from None

    def ids(self, names: Sequence[str]) -> np.ndarray:
        return np.array([self.id(n) for n in names], dtype=np.int64)

    def name(self, task_id: int) -> str:
        if not 0 <= int(task_id) < self.size:
            raise KeyError(f'task id {task_id}: expected 0..{self.size - 1}')
        return self.names[int(task_id)]

    # ---- changes -------------------------------------------------------------------------
    def add(self, name: str) -> int:
        """Append a task with a fresh id (widens the one-hot: only before the nets are built)."""
        self._check_new(name)
        self.names.append(name)
        return len(self.names) - 1

    def reserve(self, n: int) -> list[int]:
        """Append `n` placeholder ids for future target tasks."""
        if n < 0:
            raise ValueError(f'placeholders: expected >= 0, got {n}')
        k = sum(self.is_placeholder(x) for x in self.names)
        start = len(self.names)
        self.names.extend(_placeholder_name(k + i) for i in range(n))
        return list(range(start, start + n))

    def claim(self, name: str) -> int:
        """Give a new target task the first free placeholder id (width unchanged); idempotent."""
        if name in self:
            return self.id(name)
        free = self.placeholder_ids
        if not free:
            raise ValueError(f'task {name!r}: no free placeholder id left '
                             f'(registry of {self.size} ids); re-target it to an existing task')
        self._check_new(name)
        self.names[free[0]] = name
        return free[0]

    def retarget(self, name: str, existing: str) -> int:
        """Make data called `name` use the id of `existing` (no new id)."""
        target = self.id(existing)
        if name in self.names:
            raise ValueError(f'task {name!r}: already has its own id {self.names.index(name)}')
        self._check_new(name, allow_alias=True)
        self.aliases[name] = target
        return target

    def ensure(self, name: str, allow_placeholder: bool = True) -> int:
        """Id for `name`: existing, else a claimed placeholder, else KeyError (width is fixed)."""
        if name in self:
            return self.id(name)
        if allow_placeholder and self.placeholder_ids:
            return self.claim(name)
        raise KeyError(f'task {name!r}: not in the registry and no placeholder free; known: '
                       f'{self.task_names}')

    def _check_new(self, name: str, allow_alias: bool = False) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f'task name: expected a non-empty string, got {name!r}')
        if self.is_placeholder(name):
            raise ValueError(f'task name {name!r}: the prefix {PLACEHOLDER_PREFIX!r} is reserved')
        if name in self.names or (name in self.aliases and not allow_alias):
            raise ValueError(f'task {name!r}: already registered')

    # ---- tensors -------------------------------------------------------------------------
    def one_hot(self, ids, dtype=None):
        """(B,) int ids or names -> (B, size) float one-hot torch tensor."""
        import torch  # local: `ptr tasks`-style users of the registry need no torch

        if isinstance(ids, (list, tuple)) and ids and isinstance(ids[0], str):
            ids = self.ids(ids)
        t = torch.as_tensor(np.asarray(ids) if not isinstance(ids, torch.Tensor) else ids,
                            dtype=torch.int64)
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.size):
            raise ValueError(f'task ids: expected values in [0, {self.size}), '
                             f'got [{int(t.min())}, {int(t.max())}]')
        return torch.nn.functional.one_hot(t, self.size).to(dtype or torch.float32)

    # ---- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {'format': FORMAT, 'names': list(self.names), 'aliases': dict(self.aliases)}

    @classmethod
    def from_dict(cls, d: dict, where: str = 'task registry') -> 'TaskRegistry':
        if not isinstance(d, dict) or d.get('format') != FORMAT:
            got = d.get('format') if isinstance(d, dict) else type(d).__name__
            raise ValueError(f'{where}: format: expected {FORMAT!r}, got {got!r}')
        names, aliases = d.get('names'), d.get('aliases', {})
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f'{where}: names: expected a list of strings, got {names!r}')
        if len(set(names)) != len(names):
            raise ValueError(f'{where}: names: expected unique names, got {names}')
        if not isinstance(aliases, dict) or not all(
                isinstance(v, int) and 0 <= v < len(names) for v in aliases.values()):
            raise ValueError(f'{where}: aliases: expected name -> id in [0, {len(names)}), '
                             f'got {aliases!r}')
        return cls(names=list(names), aliases={str(k): int(v) for k, v in aliases.items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = 'task registry') -> 'TaskRegistry':
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f'{where}: not JSON ({e})') from None
        return cls.from_dict(d, where)
