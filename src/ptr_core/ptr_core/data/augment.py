"""Image augmentation of a learning batch: random shift and color jitter, vectorised in torch.

Random shift (DrQ; PTR's random cropping): pad by `pad` pixels replicating the edge, then crop
back at a random per-sample offset. Edge padding followed by a crop at offset (oy, ox) is the
image indexed at clamp(y + oy - pad, 0, H - 1), clamp(x + ox - pad, 0, W - 1), so we gather those
rows and columns directly: exact integer pixels (no interpolation), no padded copy, one indexing
op for the whole batch.

Observation vs next observation. Shifts are drawn independently for `image` and `next_image`,
as in the jaxrl/jaxrl2 code the PTR implementation builds on (a separate random key per call);
the TD target then averages over shifts of s' too, which is DrQ's point. Color jitter factors
are shared by s and s' of one transition (lighting does not change in 0.2 s, and independent
colors would make the target depend on a nuisance the current image does not show); both
choices are switches in AugmentConfig.

Color jitter: brightness (multiply), contrast (blend with the per-image mean gray), saturation
(blend with the per-pixel gray), then hue (add h turns to the HSV hue; closed form per pixel).
Factors are U[1 - d, 1 + d] (hue U[-h, h]), one per sample. Unlike torchvision we clamp to the
valid range once after the three linear steps instead of after each, so they fuse into one
per-sample 3x3 matrix (one pass over the batch); each step alone equals torchvision's.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

Batch = dict[str, torch.Tensor]

# ITU-R 601 luma weights (torchvision's rgb_to_grayscale).
_LUMA = torch.tensor([0.299, 0.587, 0.114])


@dataclass
class AugmentConfig:
    """Which augmentations and how strong (PTR: random shift pad 4 + color jitter)."""

    random_shift: bool = True
    """Pad-and-crop shift with edge padding."""
    pad: int = 4
    """Maximum shift in pixels (PTR/DrQ: 4)."""
    color_jitter: bool = True
    """Per-sample brightness/contrast/saturation/hue jitter."""
    brightness: float = 0.1
    """Brightness factor drawn from U[1 - b, 1 + b]."""
    contrast: float = 0.1
    """Contrast factor drawn from U[1 - c, 1 + c]."""
    saturation: float = 0.1
    """Saturation factor drawn from U[1 - s, 1 + s]."""
    hue: float = 0.03
    """Hue shift drawn from U[-h, h] turns (<= 0.5)."""
    same_shift_for_next: bool = False
    """Use the observation's shift for the next observation too."""
    same_color_for_next: bool = True
    """Use the observation's color jitter for the next observation too."""
    compile: bool = False
    """torch.compile the color jitter: one fused loop, 5x faster on this CPU after a one-time
    compilation of about 20 s (per image shape); worth it for long runs only."""


def random_shift(images: torch.Tensor, pad: int, gen: torch.Generator | None = None,
                 offsets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift (B, C, H, W) images by per-sample offsets in [0, 2*pad]^2 with edge padding.

    Returns (shifted, offsets (B, 2) as (oy, ox)); pass `offsets` to reuse a draw.
    """
    b, _, h, w = images.shape
    dev = images.device
    if offsets is None:  # drawn on the CPU generator: the same draws on every device
        offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=gen)
    off = offsets.to(dev)
    rows = (torch.arange(h, device=dev)[None, :] + off[:, :1] - pad).clamp_(0, h - 1)  # (B, H)
    cols = (torch.arange(w, device=dev)[None, :] + off[:, 1:] - pad).clamp_(0, w - 1)  # (B, W)
    bidx = torch.arange(b, device=dev)[:, None, None]
    # Advanced indices around a slice put their broadcast dims first: result is (B, H, W, C).
    out = images[bidx, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last), offsets


def color_factors(b: int, cfg: AugmentConfig, gen: torch.Generator | None = None) -> torch.Tensor:
    """(B, 4) per-sample (brightness, contrast, saturation, hue) factors."""
    u = torch.rand(b, 4, generator=gen) * 2.0 - 1.0
    spread = torch.tensor([cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue])
    return u * spread + torch.tensor([1.0, 1.0, 1.0, 0.0])


def shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Add `shift` (B,) turns (|shift| <= 0.5) to the HSV hue of non-negative (B, 3, H, W)."""
    r, g, b = x.unbind(1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    delta = maxc - torch.minimum(torch.minimum(r, g), b)
    # Hue in sextants [-1, 5): the channel holding the maximum picks the formula. Gray pixels
    # (delta = 0) get an arbitrary hue, harmless since their chroma delta is 0 below.
    h = torch.where(r == maxc, g - b,
                    torch.where(g == maxc, b - r + 2.0 * delta, r - g + 4.0 * delta))
    h = h / delta.clamp_min(1e-12) + 6.0 * shift[:, None, None]
    # HSV -> RGB: channel n gets v - delta * clamp(min(k, 4 - k), 0, 1) with k = (n + h) mod 6.
    # k lies in [-4, 10]; the clamp already maps [-2, 0) like [4, 6), so only k >= 6 wraps.
    out = []
    for n in (5.0, 3.0, 1.0):  # R, G, B: three planes, not a loop over samples
        k = h + n
        k = k - 6.0 * (k >= 6.0)
        out.append(maxc - delta * torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0))
    return torch.stack(out, 1)


def color_jitter(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Apply per-sample (brightness, contrast, saturation, hue) to uint8 (B, 3, H, W) images."""
    x = images.float()  # 0..255: every step below is scale-free
    f = factors.to(device=x.device, dtype=x.dtype)
    bright, contrast, sat = f[:, 0], f[:, 1], f[:, 2]
    luma = _LUMA.to(device=x.device, dtype=x.dtype)
    # brightness b, contrast c (around the mean gray m of the brightened image, = b * m0) and
    # saturation s (around the per-pixel gray l.x) are linear: x' = M x + (1 - c) b m0 with
    # M = c b (s I + (1 - s) 1 l^T); the offset is the same on every channel since sum(l) = 1.
    m0 = torch.einsum('bchw,c->b', x, luma) / (x.shape[2] * x.shape[3])
    eye = torch.eye(3, dtype=x.dtype, device=x.device)
    mix = sat[:, None, None] * eye + (1.0 - sat)[:, None, None] * luma[None, None, :]
    m = (contrast * bright)[:, None, None] * mix
    offset = ((1.0 - contrast) * bright * m0)[:, None, None, None]
    x = torch.einsum('bij,bjhw->bihw', m, x).add_(offset).clamp_(0.0, 255.0)
    if bool((f[:, 3] != 0).any()):
        x = shift_hue(x, f[:, 3])
    return x.round_().clamp_(0.0, 255.0).to(torch.uint8).contiguous(
        memory_format=torch.channels_last)


class Augment:
    """Callable batch -> batch that augments `image` and `next_image` (uint8, (B, 3, H, W)).

    Works on CPU or GPU tensors; random draws come from one CPU generator (seeded, and saved in
    checkpoints by the trainer), so a run augments identically on either device.
    """

    def __init__(self, cfg: AugmentConfig | None = None, seed: int | None = 0) -> None:
        self.cfg = cfg or AugmentConfig()
        if not 0.0 <= self.cfg.hue <= 0.5:
            raise ValueError(f'hue: expected in [0, 0.5], got {self.cfg.hue}')
        if self.cfg.pad < 0:
            raise ValueError(f'pad: expected >= 0, got {self.cfg.pad}')
        self.gen = torch.Generator()
        if seed is not None:
            self.gen.manual_seed(int(seed))
        self._jitter = (torch.compile(color_jitter, dynamic=False) if self.cfg.compile
                        else color_jitter)

    def __call__(self, batch: Batch) -> Batch:
        cfg, out = self.cfg, dict(batch)
        img, nxt = batch['image'], batch['next_image']
        if cfg.random_shift and cfg.pad > 0:
            img, off = random_shift(img, cfg.pad, self.gen)
            nxt, _ = random_shift(nxt, cfg.pad, self.gen,
                                  offsets=off if cfg.same_shift_for_next else None)
        if cfg.color_jitter:
            fac = color_factors(len(img), cfg, self.gen)
            img = self._jitter(img, fac)
            nxt = self._jitter(nxt, fac if cfg.same_color_for_next
                               else color_factors(len(nxt), cfg, self.gen))
        out['image'], out['next_image'] = img, nxt
        return out
