"""Image encoder = backbone -> pooling -> optional Dense-LayerNorm-tanh bottleneck."""
from __future__ import annotations

import torch
from torch import nn

from ptr_core.config import NetworkConfig
from ptr_core.nets.backbones import build_backbone
from ptr_core.nets.pooling import build_pooling


class Encoder(nn.Module):
    """uint8 images (B, 3, H, W) -> embedding (B, out_dim). Scaling by 1/255 happens here."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.channels_last = cfg.channels_last
        self.backbone = build_backbone(cfg.encoder, cfg.norm, cfg.impala_channels,
                                       cfg.cog_channels, cfg.impala_norm)
        with torch.no_grad():  # the pooling kernel's (H, W) depends on the image size
            probe = self.backbone(torch.zeros(1, 3, cfg.image_size, cfg.image_size))
        _, c, h, w = probe.shape
        self.feature_shape = (c, h, w)
        self.pool = build_pooling(cfg.pooling, h, w, c, cfg.num_spatial_features)
        if cfg.bottleneck_dim > 0:
            self.bottleneck = nn.Sequential(nn.Linear(self.pool.out_dim, cfg.bottleneck_dim),
                                            nn.LayerNorm(cfg.bottleneck_dim), nn.Tanh())
            self.out_dim = cfg.bottleneck_dim
        else:
            self.bottleneck = nn.Identity()
            self.out_dim = self.pool.out_dim
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dtype != torch.uint8:
            raise TypeError(f'Encoder: image: expected uint8 (B, 3, H, W), got {image.dtype}')
        x = image.float().div_(255.0)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.bottleneck(self.pool(self.backbone(x)))
