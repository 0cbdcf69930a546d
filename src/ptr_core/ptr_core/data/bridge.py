"""Bridge data loaders (numpy and raw formats) and conversion to our dataset format.

Numpy format (what PTR trains on): `ROOT/<lab>/<domain>/<task>/[<NN>/]{train,val}/out.npy`, an
np.save'd list of trajectory dicts with `observations` (T dicts: `images0` uint8 128x128x3, `state`
(7,)), `next_observations` (the same, shifted by one), `actions` (T x 7, physical units),
`terminals`. Raw format: `ROOT/<lab>/<domain>/<task>/[<NN>/][<date>/]raw/traj_group*/traj*/` with
`obs_dict.pkl` (`state` (T+1, 7)), `policy_out.pkl` (T dicts with `actions`) and
`images0/im_<t>.jpg`. `<NN>` is Bridge's collection level (`00`, `01`, ...: several collection
sessions of the same task); it and the date are skipped when naming the task.

Both become Trajectory objects: T+1 images (the observations plus the final next observation),
actions normalized with ptr_core.constants, task = the task folder (optionally prefixed by its
domain folder, `toykitchen2.set_table`: a task is one folder of our dataset, so no `/`),
success = True (Bridge holds demonstrations), the source's train/val split in meta['split'] (raw
trajectories: every 10th is val, like our datasets).
"""
from __future__ import annotations

import argparse
import pickle
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ptr_core.constants import ACTION_DIM, STATE_DIM, normalize_action
from ptr_core.data.dataset import DatasetWriter
from ptr_core.data.trajectory import Trajectory

_DATE_RE = re.compile(r'^\d{4}-\d{2}-\d{2}[_T-]?[\d-]*$')
_COLLECTION_RE = re.compile(r'^\d{1,3}$')  # Bridge's 00, 01, ... below the task folder
_TASK_RE = re.compile(r'[^A-Za-z0-9_.-]+')


class BridgeError(ValueError):
    """A Bridge file is missing a field or has the wrong shape (the message names both)."""


@dataclass(frozen=True)
class BridgeSource:
    """One Bridge trajectory source: a numpy out.npy or a raw trajectory folder."""

    path: Path  # out.npy, or a raw traj folder
    task: str
    split: str  # 'train' | 'val'
    domain: str  # the folders between the root and the task, joined by '/'
    collection: str = ''  # Bridge's NN level ('' when the tree has none)


def _task_name(name: str) -> str:
    """Folder name -> a dataset-safe task name (letters, digits, _ . -)."""
    return _TASK_RE.sub('_', name).strip('_') or 'task'


def _locate_task(folder: Path, root: Path, domain_prefix: bool) -> tuple[str, str, str, Path]:
    """The folder holding train/val or raw (dates already skipped) -> (task, domain, collection,
    task folder): a collection level (`00`) is skipped, so collections of a task merge and
    different tasks never share the name `00`."""
    collection = ''
    if _COLLECTION_RE.match(folder.name) and folder != root:
        collection, folder = folder.name, folder.parent
    parts = folder.relative_to(root).parts if folder != root else ()
    domain = '/'.join(parts[:-1])
    task = _task_name(folder.name)
    if domain_prefix and len(parts) > 1:
        task = f'{_task_name(parts[-2])}.{task}'
    return task, domain, collection, folder


def task_table(sources: list[BridgeSource]) -> str:
    """What a conversion will write, task by task, for the user to check before it runs."""
    rows: dict[str, dict] = {}
    for src in sources:
        r = rows.setdefault(src.task, {'train': 0, 'val': 0, 'domains': set(), 'coll': set()})
        r[src.split] += 1
        r['domains'].add(src.domain or '.')
        r['coll'].add(src.collection or '-')
    width = max([len(t) for t in rows] + [4])
    lines = [f'{"task":<{width}}  train  val  collections  domains']
    for task, r in sorted(rows.items()):
        lines.append(f'{task:<{width}}  {r["train"]:>5}  {r["val"]:>3}  '
                     f'{",".join(sorted(r["coll"])):<11}  {", ".join(sorted(r["domains"]))}')
    return '\n'.join(lines)


def resize(image: np.ndarray, size: int | None) -> np.ndarray:
    """uint8 HxWx3 -> size x size x 3 (area interpolation when shrinking, as for photos)."""
    if size is None or image.shape[:2] == (size, size):
        return image
    import cv2

    shrink = size < image.shape[0]
    return cv2.resize(image, (size, size),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


# ---- numpy format ---------------------------------------------------------------------------
def find_numpy(root: str | Path, domain_prefix: bool = False) -> list[BridgeSource]:
    """Every `<task>/[<NN>/]{train,val}/out.npy` under root, sorted by path (counts: files)."""
    root = Path(root)
    out = []
    for p in sorted(root.rglob('out.npy')):
        split = p.parent.name
        if split not in ('train', 'val'):
            continue
        task, domain, coll, _ = _locate_task(p.parent.parent, root, domain_prefix)
        out.append(BridgeSource(p, task, split, domain, coll))
    return out


def _field(d: dict, key: str, where: str):
    if not isinstance(d, dict) or key not in d:
        have = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise BridgeError(f'{where}: missing field {key!r} (have {have})')
    return d[key]


def _check(arr: np.ndarray, shape: tuple, where: str, name: str) -> np.ndarray:
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
    if not ok:
        want = tuple('*' if s is None else s for s in shape)
        raise BridgeError(f'{where}: {name}: expected shape {want}, got {tuple(arr.shape)}')
    return arr


def numpy_trajectory(d: dict, task: str, image_size: int | None, where: str,
                     meta: dict | None = None) -> Trajectory:
    """One trajectory dict of an out.npy file -> Trajectory."""
    obs = _field(d, 'observations', where)
    nxt = _field(d, 'next_observations', where)
    actions = np.asarray(_field(d, 'actions', where), np.float32)
    t = len(actions)
    _check(actions, (t, ACTION_DIM), where, 'actions')
    if t < 1 or len(obs) != t or len(nxt) != t:
        raise BridgeError(f'{where}: observations/next_observations: expected {t} each '
                          f'(one per action), got {len(obs)}/{len(nxt)}')
    frames = [_field(o, 'images0', f'{where} observations[{i}]') for i, o in enumerate(obs)]
    frames.append(_field(nxt[-1], 'images0', f'{where} next_observations[{t - 1}]'))
    images = np.stack([resize(np.asarray(f, np.uint8), image_size) for f in frames])
    _check(images, (t + 1, None, None, 3), where, 'images0')
    states = np.stack([np.asarray(_field(o, 'state', f'{where} observations[{i}]'), np.float32)
                       for i, o in enumerate(list(obs) + [nxt[-1]])])
    _check(states, (t + 1, STATE_DIM), where, 'state')
    terminals = np.asarray(d.get('terminals', np.zeros(t)), bool).reshape(-1)
    _check(terminals, (t,), where, 'terminals')
    rewards = np.asarray(d.get('rewards', np.zeros(t)), np.float32).reshape(-1)
    _check(rewards, (t,), where, 'rewards')
    return Trajectory(images=images, states=states, actions=normalize_action(actions),
                      rewards=rewards, terminals=terminals, task=task, success=True,
                      meta=dict(meta or {})).validate(where)


def load_numpy(root: str | Path, image_size: int | None = None,
               split: str | None = None, domain_prefix: bool = False) -> Iterator[Trajectory]:
    """Trajectories of every out.npy under root (optionally one split), file by file."""
    for src in find_numpy(root, domain_prefix):
        if split is not None and src.split != split:
            continue
        try:
            trajs = np.load(src.path, allow_pickle=True)
        except (OSError, ValueError, pickle.UnpicklingError) as e:
            raise BridgeError(f'{src.path}: unreadable numpy file ({e})') from None
        for i, d in enumerate(trajs):
            meta = {'source': 'bridge', 'domain': src.domain, 'split': src.split,
                    'collection': src.collection, 'file': str(src.path), 'index': i}
            yield numpy_trajectory(d, src.task, image_size, f'{src.path} trajectory {i}', meta)


# ---- raw format -----------------------------------------------------------------------------
def find_raw(root: str | Path, val_every: int = 10,
             domain_prefix: bool = False) -> list[BridgeSource]:
    """Every `raw/traj_group*/traj*` folder under root; task from the folder above raw/ (a date
    and a collection level in between are skipped)."""
    root = Path(root)
    out = []
    count: dict[str, int] = {}
    for traj in sorted(root.rglob('traj_group*/traj*')):
        if not traj.is_dir() or traj.parent.parent.name != 'raw':
            continue
        above = traj.parent.parent.parent
        if _DATE_RE.match(above.name) and above != root:
            above = above.parent
        task, domain, coll, _ = _locate_task(above, root, domain_prefix)
        k = count.get(task, 0)
        count[task] = k + 1
        split = 'val' if val_every and k % val_every == val_every - 1 else 'train'
        out.append(BridgeSource(traj, task, split, domain, coll))
    return out


def _unpickle(path: Path):
    try:
        with open(path, 'rb') as f:
            return pickle.load(f)
    except FileNotFoundError:
        raise BridgeError(f'{path}: missing') from None
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        raise BridgeError(f'{path}: unreadable pickle ({e})') from None


def raw_trajectory(src: BridgeSource, image_size: int | None) -> Trajectory:
    """One raw traj folder -> Trajectory (trailing observations without an action dropped)."""
    import cv2

    d = src.path
    obs = _unpickle(d / 'obs_dict.pkl')
    pol = _unpickle(d / 'policy_out.pkl')
    states = np.asarray(_field(obs, 'state', str(d / 'obs_dict.pkl')), np.float32)
    _check(states, (None, STATE_DIM), str(d / 'obs_dict.pkl'), 'state')
    if not isinstance(pol, (list, tuple)):
        raise BridgeError(f'{d / "policy_out.pkl"}: expected a list of per-step dicts, '
                          f'got {type(pol).__name__}')
    actions = np.asarray([_field(p, 'actions', f'{d / "policy_out.pkl"} step {i}')
                          for i, p in enumerate(pol)], np.float32)
    n_img = len(list((d / 'images0').glob('im_*.jpg')))
    t = min(len(actions), len(states) - 1, n_img - 1)
    if t < 1:
        raise BridgeError(f'{d}: expected at least 2 observations and 1 action, got '
                          f'{len(states)} states, {n_img} images0/im_*.jpg, '
                          f'{len(actions)} actions')
    _check(actions, (None, ACTION_DIM), str(d / 'policy_out.pkl'), 'actions')
    frames = []
    for i in range(t + 1):
        path = d / 'images0' / f'im_{i}.jpg'
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise BridgeError(f'{path}: missing or not an image')
        frames.append(resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), image_size))
    terminals = np.zeros(t, bool)
    terminals[-1] = True  # Bridge marks the last step of a demonstration terminal
    meta = {'source': 'bridge-raw', 'domain': src.domain, 'split': src.split,
            'collection': src.collection, 'dir': str(d)}
    return Trajectory(images=np.stack(frames), states=states[:t + 1],
                      actions=normalize_action(actions[:t]), rewards=np.zeros(t, np.float32),
                      terminals=terminals, task=src.task, success=True,
                      meta=meta).validate(str(d))


def load_raw(root: str | Path, image_size: int | None = None,
             split: str | None = None) -> Iterator[Trajectory]:
    for src in find_raw(root):
        if split is None or src.split == split:
            yield raw_trajectory(src, image_size)


# ---- conversion -----------------------------------------------------------------------------
def detect_format(root: str | Path) -> str:
    root = Path(root)
    if find_numpy(root):
        return 'numpy'
    if find_raw(root):
        return 'raw'
    raise BridgeError(f'{root}: expected Bridge data (<task>/train/out.npy or '
                      f'raw/traj_group*/traj*), found neither')


def convert_bridge(src: str | Path, dst: str | Path, image_size: int | None = 64,
                   fmt: str = 'auto', shard_episodes: int = 64, progress: bool = True,
                   domain_prefix: bool = False, say: Callable[[str], Any] = print) -> int:
    """Write Bridge trajectories under src into our dataset format at dst; returns the count.
    The task table (`task_table`) is said before anything is written."""
    from ptr_core.progress import progress as bar

    fmt = detect_format(src) if fmt == 'auto' else fmt
    if fmt == 'numpy':
        sources = find_numpy(src, domain_prefix)
        trajs = load_numpy(src, image_size, domain_prefix=domain_prefix)
        total, unit = None, 'out.npy files'
    elif fmt == 'raw':
        sources = find_raw(src, domain_prefix=domain_prefix)
        trajs = (raw_trajectory(s, image_size) for s in sources)
        total, unit = len(sources), 'trajectories'
    else:
        raise ValueError(f"format: expected 'auto', 'numpy' or 'raw', got {fmt!r}")
    say(f'{src}: Bridge {fmt} data, {len({s.task for s in sources})} tasks ({unit}):\n'
        f'{task_table(sources)}')
    n = 0
    with DatasetWriter(dst, shard_episodes=shard_episodes, prefix='bridge') as w:
        for tr in bar(trajs, total=total, desc=f'bridge {fmt} -> {dst}', unit='traj',
                       disable=not progress):
            w.add(tr)
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    """`python -m ptr_core.data.bridge SRC DST [--image-size N] [--format auto|numpy|raw]`."""
    ap = argparse.ArgumentParser(prog='ptr convert-bridge', description=__doc__.split('\n')[0])
    ap.add_argument('src', help='Bridge data root (numpy out.npy tree or raw traj_group tree)')
    ap.add_argument('dst', help='output dataset root (ptr_core.data.dataset format)')
    ap.add_argument('--image-size', type=int, default=64, help='square image size (128: paper)')
    ap.add_argument('--format', default='auto', choices=('auto', 'numpy', 'raw'))
    ap.add_argument('--shard-episodes', type=int, default=64)
    ap.add_argument('--domain-prefix', action='store_true',
                    help='name tasks <domain>.<task> (e.g. toykitchen2.set_table): keeps the same '
                         'task of two kitchens apart')
    args = ap.parse_args(argv)
    try:
        n = convert_bridge(args.src, args.dst, args.image_size, args.format, args.shard_episodes,
                           domain_prefix=args.domain_prefix)
    except (BridgeError, ValueError) as e:
        print(f'ptr convert-bridge: {e}', file=sys.stderr)
        return 1
    print(f'wrote {n} trajectories to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
