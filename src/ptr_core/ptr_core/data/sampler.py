"""Transition storage and batch mixing (PTR's tau, the online three-way beta mixing).

Storage: each observation image is stored once, uint8 HWC, T+1 per trajectory; a transition is
an index into them (s_t = obs[i], s_t+1 = obs[i + 1]), so images cost 1x, not 2x as in
(s, s') tuples. A batch gathers with one fancy index per array (no per-sample Python loop) and
hands images to torch as (B, 3, H, W) views of HWC memory, i.e. already channels_last.

Mixing: for fractions f_1..f_k the count of source i is floor(B * F_i) - floor(B * F_{i-1})
with F the cumulative sums. This is exactly PTR's floor(B * tau) from the first source and the
rest from the second (64, tau=0.9 -> 57 + 7), sums to B for any k, and is within one sample of
B * f_i (online defaults 0.35/0.15/0.5 at B=64 -> 22 + 10 + 32).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

import numpy as np
import torch

from ptr_core.data.rewards import RewardConfig, label_arrays
from ptr_core.data.trajectory import Trajectory

if TYPE_CHECKING:
    from ptr_core.data.dataset import Dataset

# PTR fine-tuning: 57 prior + 7 target of 64 (online: ptr_core.online_config.ONLINE_FRACTIONS).
PTR_FINETUNE_FRACTIONS = (0.9, 0.1)

Batch = dict[str, torch.Tensor]
NumpyBatch = dict[str, np.ndarray]
# How a trajectory's task name becomes its id: a ptr_core.task_registry.TaskRegistry (anything with
# .id(name)), a name -> id mapping, or one id per trajectory in order.
TaskIds = Any


class TransitionSource(Protocol):
    """Anything a MixedSampler can draw from."""

    def __len__(self) -> int: ...

    def gather(self, idx: np.ndarray) -> NumpyBatch: ...


class _Growing:
    """Named numpy arrays sharing a length, with amortized O(1) append (capacity doubling)."""

    def __init__(self) -> None:
        self._data: dict[str, np.ndarray] = {}
        self.n = 0

    def append(self, parts: dict[str, np.ndarray]) -> None:
        k = len(next(iter(parts.values())))
        if not self._data:
            self._data = {name: np.empty((max(k, 1),) + a.shape[1:], a.dtype)
                          for name, a in parts.items()}
        need = self.n + k
        cap = len(next(iter(self._data.values())))
        if need > cap:
            cap = max(need, 2 * cap)
            for name, a in self._data.items():
                grown = np.empty((cap,) + a.shape[1:], a.dtype)
                grown[:self.n] = a[:self.n]
                self._data[name] = grown
        for name, a in parts.items():
            self._data[name][self.n:need] = a
        self.n = need

    def __getitem__(self, name: str) -> np.ndarray:
        return self._data[name][:self.n]


class ShardedImages:
    """Read-only images spread over several (memory-mapped) arrays, addressed by a global index."""

    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self.arrays = list(arrays)
        sizes = np.array([len(a) for a in self.arrays], np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)])
        self.shape = (int(self.starts[-1]),) + tuple(self.arrays[0].shape[1:])

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx),) + self.shape[1:], np.uint8)
        shard = np.searchsorted(self.starts, idx, side='right') - 1
        # One fancy read per touched shard (not per sample); sorted reads are page friendly.
        for s in np.unique(shard):
            m = shard == s
            local = idx[m] - self.starts[s]
            order = np.argsort(local, kind='stable')
            rows = np.empty_like(order)
            rows[order] = np.arange(len(order))
            out[np.flatnonzero(m)] = np.asarray(self.arrays[s][local[order]])[rows]
        return out


def task_id_of(task_ids: TaskIds, task: str, i: int | None) -> int:
    """Id of trajectory i of `task`; i is None where only a name -> id lookup makes sense."""
    if task_ids is None:
        raise ValueError('task_ids: expected a TaskRegistry, a name -> id mapping or a list')
    if hasattr(task_ids, 'id'):
        return int(task_ids.id(task))
    if isinstance(task_ids, Mapping):
        if task not in task_ids:
            raise KeyError(f'task {task!r}: no id in the given mapping {dict(task_ids)}')
        return int(task_ids[task])
    if i is None:
        raise ValueError(f'task_ids: expected a TaskRegistry or a name -> id mapping for task '
                         f'{task!r}, got {type(task_ids).__name__}')
    return int(task_ids[i])


class TransitionBuffer:
    """Labeled transitions over shared uint8 observations; a TransitionSource.

    Build with `from_trajectories` (in memory, can `extend` later: the online buffer) or
    `from_dataset` (images stay memory-mapped on disk: Bridge scale).
    """

    def __init__(self, reward_cfg: RewardConfig | None = None) -> None:
        self.reward_cfg = reward_cfg or RewardConfig()
        self._obs = _Growing()  # state (and image when in memory)
        self._tr = _Growing()  # obs_idx, action, reward, terminal, task, mc_return
        self._images: ShardedImages | None = None
        self.num_trajectories = 0

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def from_trajectories(cls, trajs: Sequence[Trajectory], task_ids: TaskIds,
                          reward_cfg: RewardConfig | None = None) -> 'TransitionBuffer':
        buf = cls(reward_cfg)
        buf.extend(trajs, task_ids)
        return buf

    def extend(self, trajs: Sequence[Trajectory], task_ids: TaskIds) -> None:
        """Append trajectories (in-memory buffers only); `task_ids` as in from_trajectories."""
        if self._images is not None:
            raise ValueError('TransitionBuffer: a memory-mapped buffer is read-only')
        for i, tr in enumerate(trajs):
            if self._obs.n and tr.images.shape[1:] != self._obs['image'].shape[1:]:
                raise ValueError(f'trajectory {i} of task {tr.task!r}: images: expected shape '
                                 f'{self._obs["image"].shape[1:]}, got {tr.images.shape[1:]}')
            lab = label_arrays(len(tr), tr.success, tr.rewards, tr.terminals, self.reward_cfg)
            self._append(tr.states, tr.actions, lab, task_id_of(task_ids, tr.task, i),
                         images=tr.images)

    def _append(self, states, actions, lab, task: int, images=None, img0: int | None = None):
        """Store one labeled trajectory; images in memory, or at rows img0.. of the mmap store."""
        t = len(actions)
        obs0 = self._obs.n
        obs = {'state': np.asarray(states, np.float32)}
        if images is not None:
            obs['image'] = np.asarray(images, np.uint8)
        self._obs.append(obs)
        steps = np.arange(t, dtype=np.int64)
        self._tr.append({
            'obs_idx': obs0 + steps, 'img_idx': (obs0 if img0 is None else img0) + steps,
            'action': np.asarray(actions, np.float32),
            'reward': lab.reward, 'terminal': lab.terminal.astype(np.float32),
            'task': np.full(t, task, np.int64), 'mc_return': lab.mc_return})
        self.num_trajectories += 1

    @classmethod
    def from_dataset(cls, dataset: 'Dataset', task_ids: TaskIds,
                     reward_cfg: RewardConfig | None = None,
                     tasks: Sequence[str] | None = None, split: str | None = None,
                     val_fraction: float = 0.1) -> 'TransitionBuffer':
        """Memory-mapped buffer over a ptr_core.data.Dataset: only images stay on disk.

        States, actions and labels (about 100 bytes per transition) are loaded into RAM; image
        reads happen per batch. Task ids come from the folder names through `task_ids`.
        """
        buf = cls(reward_cfg)
        arrays: list[np.ndarray] = []
        base = 0
        for task in tasks or dataset.tasks:
            td = dataset[task]
            tid = task_id_of(task_ids, task, None)
            keep = set(td.split_indices(split, val_fraction))
            shard_base = []
            for sh, sh_dir in zip(td.shards, td.shard_dirs):
                if arrays and sh['images'].shape[1:] != arrays[0].shape[1:]:
                    raise ValueError(f'{sh_dir}: images: expected shape '
                                     f'{arrays[0].shape[1:]} like the first shard, '
                                     f'got {sh["images"].shape[1:]}')
                shard_base.append(base)
                arrays.append(sh['images'])
                base += len(sh['images'])
            for i, e in enumerate(td.episodes):
                if i not in keep:
                    continue
                sh = td.shards[e.shard]
                o = slice(e.obs_start, e.obs_start + e.length + 1)
                a = slice(e.act_start, e.act_start + e.length)
                lab = label_arrays(e.length, e.success, np.asarray(sh['rewards'][a]),
                                   np.asarray(sh['terminals'][a]), buf.reward_cfg)
                buf._append(np.asarray(sh['states'][o]), np.asarray(sh['actions'][a]), lab, tid,
                            img0=shard_base[e.shard] + e.obs_start)
        if not arrays:
            raise ValueError('from_dataset: no tasks selected')
        buf._images = ShardedImages(arrays)
        return buf

    # ---- access --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._tr.n

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W, 3) of the stored observations; () while an in-memory buffer is empty."""
        if self._images is not None:
            return self._images.shape[1:]
        return tuple(self._obs['image'].shape[1:]) if self._obs.n else ()

    def field(self, name: str) -> np.ndarray:
        """A per-transition array: obs_idx, action, reward, terminal, task, mc_return."""
        return self._tr[name]

    def gather(self, idx: np.ndarray) -> NumpyBatch:
        """Transitions `idx` as numpy arrays keyed like the learning batch (images HWC)."""
        idx = np.asarray(idx, np.int64)
        o = self._tr['obs_idx'][idx]
        if self._images is None:
            img = self._obs['image']
            image, next_image = img[o], img[o + 1]
        else:
            g = self._tr['img_idx'][idx]
            both = self._images.take(np.concatenate([g, g + 1]))
            image, next_image = both[:len(g)], both[len(g):]
        states = self._obs['state']
        return {'image': image, 'next_image': next_image,
                'state': states[o], 'next_state': states[o + 1],
                'action': self._tr['action'][idx], 'reward': self._tr['reward'][idx],
                'terminal': self._tr['terminal'][idx], 'task': self._tr['task'][idx],
                'mc_return': self._tr['mc_return'][idx]}


def mix_counts(fractions: Sequence[float], batch_size: int) -> list[int]:
    """Exact integer per-source counts by cumulative flooring (see the module docstring)."""
    f = np.asarray(fractions, np.float64)
    if f.ndim != 1 or len(f) == 0 or (f < 0).any() or abs(f.sum() - 1.0) > 1e-6:
        raise ValueError(f'fractions: expected non-negative numbers summing to 1, '
                         f'got {list(fractions)}')
    if batch_size < 1:
        raise ValueError(f'batch_size: expected >= 1, got {batch_size}')
    # The epsilon keeps 64 * 0.35 + 64 * 0.15 = 31.999... from flooring to 31.
    cum = np.floor(np.cumsum(f) * batch_size + 1e-9).astype(np.int64)
    cum[-1] = batch_size
    return np.diff(np.concatenate([[0], cum])).tolist()


def to_torch(batch: NumpyBatch) -> Batch:
    """Numpy batch (images HWC) -> the learning batch of docs/ARCHITECTURE.md."""
    out: Batch = {}
    for k, v in batch.items():
        t = torch.from_numpy(np.ascontiguousarray(v))
        if k in ('image', 'next_image'):
            t = t.permute(0, 3, 1, 2)  # (B, 3, H, W) view of HWC memory: channels_last
        out[k] = t
    return out


class MixedSampler:
    """Batches mixing several sources in fixed proportions; iterable forever.

    `MixedSampler([prior, target], [tau, 1 - tau], 64)` is PTR's fine-tuning batch;
    `MixedSampler([prior, demos, online], [0.35, 0.15, 0.5], B)` the online one. `augment` is a
    callable batch -> batch (ptr_core.data.augment.Augment) applied to the whole mixed batch.
    """

    def __init__(self, sources: Sequence[TransitionSource], fractions: Sequence[float],
                 batch_size: int, augment: Callable[[Batch], Batch] | None = None,
                 seed: int | None = 0) -> None:
        if len(sources) != len(fractions):
            raise ValueError(f'MixedSampler: expected one fraction per source, got '
                             f'{len(fractions)} fractions for {len(sources)} sources')
        self.sources = list(sources)
        self.counts = mix_counts(fractions, batch_size)
        self.batch_size = int(batch_size)
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self.drawn = [0] * len(self.sources)  # transitions sampled from each source so far

    def set_fractions(self, fractions: Sequence[float]) -> None:
        """Change the mixture (e.g. when the online buffer starts filling)."""
        self.counts = mix_counts(fractions, self.batch_size)

    def sample_numpy(self) -> NumpyBatch:
        parts = []
        for i, (src, n) in enumerate(zip(self.sources, self.counts)):
            if n == 0:
                continue
            if len(src) == 0:
                raise ValueError(f'MixedSampler: source {i} is empty but {n} of '
                                 f'{self.batch_size} samples are drawn from it')
            parts.append(src.gather(self.rng.integers(0, len(src), size=n)))
            self.drawn[i] += n
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def sample(self) -> Batch:
        batch = to_torch(self.sample_numpy())
        return self.augment(batch) if self.augment is not None else batch

    def __iter__(self):
        while True:
            yield self.sample()
