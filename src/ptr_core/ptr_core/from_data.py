"""Training settings the data determines: the image size, unless the user chose one.

Why: `ptr train --target demos48` with the preset's 64 px stopped with "--target: images:
expected (64, 64, 3) for network.image_size, got (48, 48, 3)", naming neither the fix nor the
flag. A fresh agent now reads images at its data's size when network.image_size was not set
(--set or --config), saying so in one line; where a checkpoint or the user fixed the size, the
error says which flag to pass.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ptr_core.config import Config, read_yaml_mapping
from ptr_core.data import Dataset

KEY = 'network.image_size'


def user_set_image_size(args: argparse.Namespace) -> bool:
    """Whether --set or the --config file chose network.image_size."""
    if any(o.split('=', 1)[0].strip() == KEY for o in args.overrides or []):
        return True
    if getattr(args, 'config', None):
        network = read_yaml_mapping(args.config).get('network') or {}
        return isinstance(network, dict) and 'image_size' in network
    return False


def data_image_size(args: argparse.Namespace) -> tuple[int, str] | None:
    """(side, flag) of the first dataset's square images: --target's task, else --data's first
    task (or the first of --tasks); None when there is no data yet to look at."""
    candidates = []
    if getattr(args, 'target', None) and getattr(args, 'target_task', None):
        candidates.append(('--target', args.target, args.target_task))
    if getattr(args, 'data', None):
        candidates.append(('--data', args.data, (getattr(args, 'tasks', None) or [None])[0]))
    for flag, root, task in candidates:
        if not Path(root).is_dir():
            continue
        ds = Dataset(root)
        task = task or (ds.tasks[0] if ds.tasks else None)
        if task in ds.tasks:
            shape = ds[task].image_shape
            if len(shape) == 3 and shape[0] == shape[1]:
                return int(shape[0]), flag
    return None


def adopt_image_size(args: argparse.Namespace, cfg: Config, command: str) -> None:
    """A fresh agent of `command` reads images at the data's size unless the user chose one."""
    if user_set_image_size(args):
        return
    found = data_image_size(args)
    if found is not None and found[0] != cfg.network.image_size:
        print(f'ptr {command}: {KEY} {cfg.network.image_size} -> {found[0]} (the images of '
              f'{found[1]}; --set {KEY}=N chooses)', file=sys.stderr)
        cfg.network.image_size = found[0]


def mismatch(flag: str, shape: tuple[int, ...], side: int, fixed_by: str) -> str:
    """The one-line error for data whose images are not side x side, with the way out."""
    why = (f'{fixed_by} was trained at {side} px: give data at {side} px (ptr collect '
           f'--image-size {side})' if fixed_by else
           f'leave {KEY} unset (it then comes from the data) or give data at {side} px')
    return f'{flag}: images: expected ({side}, {side}, 3) for {KEY}, got {tuple(shape)}; {why}'
