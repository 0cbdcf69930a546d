"""Binary success classifier: the reward model of autonomous online fine-tuning (PTR V-F, App. F).

PTR labels every online frame with a ResNet-34 classifier of "door open" vs "door closed"; on this
CPU machine the default is a small GroupNorm CNN (a few ms per 64 px frame) and the ResNets are a
configuration. The model sees uint8 images (B, 3, H, W) and divides by 255 itself, like the policy
networks, so callers never disagree about scaling. Pure torch: no rclpy here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ptr_core.atomic import atomic_path
from ptr_core.ckpt_file import check_file, torch_error_line
from ptr_core.data.augment import random_shift
from ptr_reward.calibration import Calibration, calibrate

FORMAT = 'ptr-reward-classifier/1'
ARCHS = ('cnn', 'resnet18', 'resnet34')


@dataclass
class ClassifierConfig:
    """Architecture and training settings; saved inside every checkpoint."""

    arch: str = 'cnn'  # 'cnn' (CPU default) | 'resnet18' | 'resnet34' (GroupNorm, as PTR App. F)
    image_size: int = 64  # frames are resized to this square size before classification
    channels: tuple[int, ...] = (16, 32, 64)  # conv widths of the small CNN (stride 2 each)
    hidden: int = 128  # width of the small CNN's hidden layer
    groups: int = 4  # GroupNorm groups (PTR uses 4)
    threshold: float = 0.5  # reward = 1.0 iff P(success) > threshold
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 1e-4  # Adam weight decay
    batch_size: int = 64  # frames per step; half positives, half negatives (class balancing)
    steps: int = 300  # gradient steps
    shift: int = 4  # random-shift augmentation pad (pixels, edge padding); 0 disables
    val_fraction: float = 0.2  # held-out fraction: val accuracy and the threshold calibration
    seed: int = 0  # torch and numpy seed for init, sampling and augmentation
    # Negatives that fool the classifier (near misses, the policy's own failed endings, frames
    # after a success was undone) are rare among all negatives: this fraction of each batch's
    # negatives comes from the quarter of negative frames it currently scores highest.
    hard_negatives: float = 0.5
    rescore_every: int = 50  # steps between re-scorings of the negatives
    # After training, the threshold is set on the held-out episodes to the lowest one whose
    # episode precision reaches this (ptr_reward.calibration); 0 keeps `threshold` as given.
    target_precision: float = 0.9

    def validate(self) -> 'ClassifierConfig':
        if self.arch not in ARCHS:
            raise ValueError(f'classifier config: arch: expected one of {ARCHS}, '
                             f'got {self.arch!r}')
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f'classifier config: threshold: expected in (0, 1), '
                             f'got {self.threshold}')
        if not 0.0 <= self.hard_negatives <= 1.0 or self.rescore_every < 1:
            raise ValueError(f'classifier config: expected hard_negatives in [0, 1] and '
                             f'rescore_every >= 1, got {self.hard_negatives}, '
                             f'{self.rescore_every}')
        if not 0.0 <= self.target_precision <= 1.0:
            raise ValueError(f'classifier config: target_precision: expected in [0, 1], '
                             f'got {self.target_precision}')
        if self.image_size < 16:
            raise ValueError(f'classifier config: image_size: expected >= 16, '
                             f'got {self.image_size}')
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d['channels'] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> 'ClassifierConfig':
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f'classifier config: unknown keys {unknown}')
        d = dict(d)
        if 'channels' in d:
            d['channels'] = tuple(int(c) for c in d['channels'])
        return cls(**d).validate()


def _gn(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, channels), channels)


class SuccessClassifier(nn.Module):
    """uint8 images (B, 3, H, W) -> success logits (B,)."""

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg.validate()
        if cfg.arch == 'cnn':
            layers: list[nn.Module] = []
            c_in = 3
            for c in cfg.channels:
                layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), _gn(c, cfg.groups),
                           nn.ReLU(inplace=True)]
                c_in = c
            self.backbone = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                          nn.Linear(c_in, cfg.hidden), nn.ReLU(inplace=True))
            self.head = nn.Linear(cfg.hidden, 1)
        else:
            import torchvision
            ctor = getattr(torchvision.models, cfg.arch)
            net = ctor(weights=None, norm_layer=lambda c: _gn(c, cfg.groups))
            feat = net.fc.in_features
            net.fc = nn.Identity()
            self.backbone = net
            self.head = nn.Linear(feat, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255.0)
        return self.head(self.backbone(x)).squeeze(-1)

    @torch.no_grad()
    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) or (N, H, W, 3), any size -> P(success), float32 (N,)."""
        batch = to_model_input(images, self.cfg.image_size)
        was_training = self.training
        self.eval()
        p = torch.sigmoid(self(batch)).numpy().astype(np.float32)
        self.train(was_training)
        return p


def reward_from_prob(prob: float | np.ndarray, threshold: float) -> float | np.ndarray:
    """PTR's binary reward: 1.0 where P(success) is strictly above the threshold, else 0.0."""
    r = (np.asarray(prob, dtype=np.float32) > threshold).astype(np.float32)
    return float(r) if r.ndim == 0 else r


def to_model_input(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (H, W, 3) / (N, H, W, 3) -> uint8 tensor (N, 3, size, size) (bilinear resize)."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f'classifier input: expected (N, H, W, 3) images, got {arr.shape}')
    if arr.dtype != np.uint8:
        raise ValueError(f'classifier input: expected dtype uint8, got {arr.dtype}')
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)
    if t.shape[-2:] != (size, size):
        t = F.interpolate(t.float(), size=(size, size), mode='bilinear', align_corners=False,
                          antialias=True).round_().clamp_(0, 255).to(torch.uint8)
    return t.contiguous()


@dataclass
class TrainResult:
    """What `train_classifier` learned and how well it does on the held-out frames."""

    model: SuccessClassifier
    train_accuracy: float
    val_accuracy: float  # balanced accuracy (mean of per-class recall) on the val frames
    val_counts: tuple[int, int]  # (negatives, positives) in the val split
    history: list[float] = field(default_factory=list)  # training loss per step
    calibration: Calibration | None = None  # the threshold's held-out episode precision


def split_train_val(n: int, val_fraction: float, seed: int,
                    groups: np.ndarray | None = None, labels: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Random split of n frames; with `groups` (e.g. episode ids) whole groups go to one side,
    and with `labels` too, groups with and without a positive frame are split separately (at
    least one of each kind held out when there are two), so both sides see both outcomes."""
    rng = np.random.default_rng(seed)
    if groups is None:
        perm = rng.permutation(n)
        n_val = int(round(n * val_fraction))
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    uniq = np.unique(groups)
    strata = [uniq]
    if labels is not None:
        has_pos = np.array([bool(np.any(labels[groups == g])) for g in uniq])
        strata = [uniq[has_pos], uniq[~has_pos]]
    val_groups = []
    for part in strata:
        part = rng.permutation(part)
        k = int(round(len(part) * val_fraction))
        if labels is not None and val_fraction > 0 and len(part) >= 2:
            k = max(k, 1)
        val_groups += list(part[:k])
    is_val = np.isin(groups, val_groups)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def balanced_accuracy(prob: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """Mean per-class recall: a classifier that always says 'fail' scores 0.5, not 0.9."""
    pred = np.asarray(prob) > threshold
    labels = np.asarray(labels).astype(bool)
    recalls = [float(np.mean(pred[labels == c] == c)) for c in (False, True)
               if np.any(labels == c)]
    return float(np.mean(recalls)) if recalls else float('nan')


def train_classifier(images: np.ndarray, labels: np.ndarray, cfg: ClassifierConfig,
                     groups: np.ndarray | None = None,
                     progress: Callable[[int], Any] | None = None) -> TrainResult:
    """Fit on uint8 frames (N, H, W, 3) and 0/1 labels with class-balanced batches.

    Each batch draws half its frames from each class (with replacement), so a data set with 5%
    success frames still trains a useful detector. Returns the model in eval mode.
    """
    cfg.validate()
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f'train_classifier: labels: expected {len(images)} (one per frame), '
                         f'got {len(labels)}')
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    train_idx, val_idx = split_train_val(len(labels), cfg.val_fraction, cfg.seed, groups, labels)
    if len(val_idx) == 0 or len(np.unique(labels[val_idx])) < 2:
        # Too little data to hold whole groups out: fall back to a frame-level split (and
        # calibrate frame by frame: its frames are no longer runs of an episode).
        train_idx, val_idx = split_train_val(len(labels), cfg.val_fraction, cfg.seed)
        groups = None
    pos = train_idx[labels[train_idx] == 1]
    neg = train_idx[labels[train_idx] == 0]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(f'train_classifier: labels: expected both classes in the training '
                         f'frames, got {len(neg)} negatives and {len(pos)} positives')
    data = to_model_input(images, cfg.image_size)  # (N, 3, S, S) uint8, resized once
    model = SuccessClassifier(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    half = max(1, cfg.batch_size // 2)
    n_hard = int(round(cfg.hard_negatives * half)) if len(neg) >= 8 else 0
    hard = neg
    target = torch.cat([torch.zeros(half), torch.ones(half)])
    history = []

    def probs(idx: np.ndarray) -> np.ndarray:
        return _probabilities(model, data, idx)

    model.train()
    for step in range(cfg.steps):
        if n_hard and step % cfg.rescore_every == 0 and step > 0:
            hard = _hardest_quarter(model, data, neg, rng)
        idx = np.concatenate([rng.choice(neg, half - n_hard), rng.choice(hard, n_hard),
                              rng.choice(pos, half)])
        x = data[torch.from_numpy(idx)]
        if cfg.shift > 0:  # the same edge-padded shift (DrQ / PTR) the policy trains with
            x = random_shift(x, cfg.shift, gen)[0]
        loss = F.binary_cross_entropy_with_logits(model(x), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
        if progress is not None:
            progress(1)
    model.eval()
    return _finish(model, probs, labels, train_idx, val_idx,
                   groups[val_idx] if groups is not None else None, history)


def _probabilities(model: SuccessClassifier, data: torch.Tensor, idx: np.ndarray
                   ) -> np.ndarray:
    with torch.no_grad():
        out = [torch.sigmoid(model(data[torch.from_numpy(idx[i:i + 256])]))
               for i in range(0, len(idx), 256)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def _hardest_quarter(model: SuccessClassifier, data: torch.Tensor, neg: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """The quarter of (a sample of at most 4096) negatives the model scores highest."""
    model.eval()
    sample = neg if len(neg) <= 4096 else rng.choice(neg, 4096, replace=False)
    p = _probabilities(model, data, sample)
    model.train()
    return sample[np.argsort(-p)[:max(1, len(sample) // 4)]]


def _finish(model: SuccessClassifier, probs: Callable[[np.ndarray], np.ndarray],
            labels: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
            val_groups: np.ndarray | None, history: list[float]) -> TrainResult:
    """Calibrate the threshold on the held-out frames (cfg.target_precision > 0), then score."""
    cfg = model.cfg
    p_val = probs(val_idx)
    calibration = None
    if cfg.target_precision > 0 and len(val_idx):
        calibration = calibrate_on(p_val, labels[val_idx], val_groups, cfg.target_precision)
        model.cfg = dataclasses.replace(cfg, threshold=float(calibration.threshold))
    t = model.cfg.threshold
    train_acc = balanced_accuracy(probs(train_idx), labels[train_idx], t)
    val_acc = balanced_accuracy(p_val, labels[val_idx], t)
    counts = (int(np.sum(labels[val_idx] == 0)), int(np.sum(labels[val_idx] == 1)))
    return TrainResult(model, train_acc, val_acc, counts, history, calibration)


def calibrate_on(prob: np.ndarray, labels: np.ndarray, groups: np.ndarray | None,
                 target_precision: float) -> Calibration:
    """Calibrate on frames in episode order: per episode (`groups`) with the episode manager's
    consecutive-frame rule, or, without episodes (labelled folders), frame by frame."""
    if groups is None:
        return calibrate([prob[i:i + 1] for i in range(len(prob))],
                         [labels[i:i + 1] for i in range(len(labels))], target_precision,
                         frames=1)
    order = np.unique(groups)
    return calibrate([prob[groups == g] for g in order], [labels[groups == g] for g in order],
                     target_precision)


def save_classifier(path: str | Path, model: SuccessClassifier,
                    metrics: dict[str, Any] | None = None) -> Path:
    """Atomic, self-describing checkpoint: format tag, config, weights, metrics."""
    path = Path(path)
    blob = {'format': FORMAT, 'config': model.cfg.to_dict(), 'state_dict': model.state_dict(),
            'metrics': dict(metrics or {})}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return path


def load_classifier(path: str | Path) -> SuccessClassifier:
    """Rebuild the model from its checkpoint; one-line errors for missing or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: reward classifier checkpoint not found')
    check_file(path)  # empty, not a zip, cut off: CheckpointError (a ValueError) in one line
    try:
        blob = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise ValueError(f'{path}: not a readable reward classifier checkpoint '
                         f'({torch_error_line(e)})') from None
    if not isinstance(blob, dict) or blob.get('format') != FORMAT:
        got = blob.get('format') if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f'{path}: format: expected {FORMAT!r}, got {got!r}')
    model = SuccessClassifier(ClassifierConfig.from_dict(blob['config']))
    model.load_state_dict(blob['state_dict'])
    model.eval()
    return model


class RewardLabeler:
    """Frame in, (P(success), reward) out: what the reward node and the reset node both need."""

    def __init__(self, model: SuccessClassifier, threshold: float | None = None) -> None:
        self.model = model.eval()
        self.threshold = float(model.cfg.threshold if threshold is None or threshold < 0
                               else threshold)
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f'reward threshold: expected in (0, 1), got {self.threshold}')

    @classmethod
    def from_checkpoint(cls, path: str | Path, threshold: float | None = None) -> 'RewardLabeler':
        return cls(load_classifier(path), threshold)

    def __call__(self, image: np.ndarray) -> tuple[float, float]:
        p = float(self.model.predict_proba(image)[0])
        return p, float(reward_from_prob(p, self.threshold))
