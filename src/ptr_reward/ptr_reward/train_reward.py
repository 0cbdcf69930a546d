"""`ptr train-reward`: fit the success classifier from labeled frames.

Two sources of labels:
  sim   `--data DIR --task T`: frames of a ptr dataset; frame t+1 of an episode is labeled by the
        reward recorded on transition t (the sim records 1.0 when the next state satisfies the
        task's success predicate). The first frame of an episode has no label and is skipped.
  real  `--folders DIR`: one subfolder per label (success/positive/1 vs failure/negative/0) of
        .png/.jpg frames, as collected by hand on the arm (PTR App. F: ~20 trajectories each).
Validation holds out whole episodes (sim) so neighbouring frames do not leak into the score.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from ptr_reward.classifier import ARCHS, ClassifierConfig, save_classifier, train_classifier

POSITIVE = {'1', 'success', 'successes', 'positive', 'pos', 'true', 'yes', 'open'}
NEGATIVE = {'0', 'failure', 'failures', 'fail', 'negative', 'neg', 'false', 'no', 'closed'}
IMAGE_EXTS = {'.png', '.jpg', '.jpeg', '.bmp'}


def frames_from_dataset(root: str | Path, task: str, max_frames: int | None = None,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (N,H,W,3) uint8, labels (N,) 0/1, episode ids (N,)) from a ptr dataset task."""
    from ptr_core.data import Dataset
    td = Dataset(root)[task]
    imgs, labels, groups = [], [], []
    for i in range(len(td)):
        tr = td.trajectory(i)
        imgs.append(tr.images[1:])
        labels.append((tr.rewards > 0).astype(np.int64))
        groups.append(np.full(len(tr), i))
    images = np.concatenate(imgs)
    lab = np.concatenate(labels)
    grp = np.concatenate(groups)
    if max_frames is not None and len(lab) > max_frames:
        # Keep every positive (they are rare) and subsample the negatives.
        rng = np.random.default_rng(seed)
        pos = np.flatnonzero(lab == 1)
        neg = np.flatnonzero(lab == 0)
        keep_neg = rng.choice(neg, max(0, max_frames - len(pos)), replace=False)
        keep = np.sort(np.concatenate([pos, keep_neg]))
        images, lab, grp = images[keep], lab[keep], grp[keep]
    return images, lab, grp


def frames_from_folders(root: str | Path, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) from ROOT/<label>/*.png|jpg; label folder names in POSITIVE/NEGATIVE."""
    from PIL import Image
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f'{root}: --folders: expected a folder of label subfolders')
    imgs, labels = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        name = sub.name.lower()
        if name in POSITIVE:
            label = 1
        elif name in NEGATIVE:
            label = 0
        else:
            raise ValueError(f'{sub}: label folder: expected one of '
                             f'{sorted(POSITIVE | NEGATIVE)}, got {sub.name!r}')
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() in IMAGE_EXTS:
                with Image.open(f) as im:
                    im = im.convert('RGB').resize((image_size, image_size), Image.BILINEAR)
                    imgs.append(np.asarray(im, dtype=np.uint8))
                labels.append(label)
    if not imgs:
        raise ValueError(f'{root}: --folders: found no images in label subfolders')
    return np.stack(imgs), np.asarray(labels, np.int64)


def build_parser() -> argparse.ArgumentParser:
    d = ClassifierConfig()
    p = argparse.ArgumentParser(prog='ptr train-reward', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--data', help='ptr dataset root (sim frames labeled by recorded success)')
    src.add_argument('--folders', help='folder with one subfolder of frames per label')
    p.add_argument('--task', help='task folder of --data to read (required with --data)')
    p.add_argument('--out', required=True, help='checkpoint path to write (atomic)')
    p.add_argument('--arch', choices=ARCHS, default=d.arch, help='classifier backbone')
    p.add_argument('--image-size', type=int, default=d.image_size, help='input size in pixels')
    p.add_argument('--steps', type=int, default=d.steps, help='gradient steps')
    p.add_argument('--batch-size', type=int, default=d.batch_size, help='frames per step')
    p.add_argument('--lr', type=float, default=d.lr, help='Adam learning rate')
    p.add_argument('--threshold', type=float, default=d.threshold,
                   help='reward = 1 iff P(success) > threshold')
    p.add_argument('--val-fraction', type=float, default=d.val_fraction,
                   help='held-out fraction (whole episodes with --data)')
    p.add_argument('--max-frames', type=int, default=20000,
                   help='cap on frames loaded from --data (all positives kept)')
    p.add_argument('--seed', type=int, default=d.seed, help='random seed')
    return p


def run(data: str | None, task: str | None, out: str | Path, cfg: ClassifierConfig,
        folders: str | None = None, max_frames: int | None = 20000, verbose: bool = True):
    """Load frames, train, save; returns the TrainResult (used by `ptr demo`)."""
    from ptr_core.progress import progress
    if folders:
        images, labels = frames_from_folders(folders, cfg.image_size)
        groups = None
        source = folders
    else:
        if not task:
            raise ValueError('ptr train-reward: --task is required with --data')
        images, labels, groups = frames_from_dataset(data, task, max_frames, cfg.seed)
        source = f'{data}/{task}'
    n_pos = int(labels.sum())
    if verbose:
        print(f'train-reward: {len(labels)} frames from {source} '
              f'({n_pos} success, {len(labels) - n_pos} not)')
    with progress(total=cfg.steps, desc='reward classifier', disable=not verbose) as bar:
        result = train_classifier(images, labels, cfg, groups=groups, progress=bar.update)
    metrics = {'train_accuracy': result.train_accuracy, 'val_accuracy': result.val_accuracy,
               'val_negatives': result.val_counts[0], 'val_positives': result.val_counts[1],
               'frames': int(len(labels)), 'positives': n_pos, 'source': str(source),
               'task': task}
    save_classifier(out, result.model, metrics)
    if verbose:
        print(f'train-reward: balanced accuracy train {result.train_accuracy:.3f}, '
              f'val {result.val_accuracy:.3f} ({result.val_counts[1]} success / '
              f'{result.val_counts[0]} other val frames) -> {out}')
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = dataclasses.replace(
            ClassifierConfig(), arch=args.arch, image_size=args.image_size, steps=args.steps,
            batch_size=args.batch_size, lr=args.lr, threshold=args.threshold,
            val_fraction=args.val_fraction, seed=args.seed).validate()
        import torch
        torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
        run(args.data, args.task, args.out, cfg, folders=args.folders,
            max_frames=args.max_frames)
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f'ptr train-reward: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
