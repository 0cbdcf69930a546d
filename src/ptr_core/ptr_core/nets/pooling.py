"""Ways to turn a (B, C, H, W) feature map into a vector (PTR section IV-B, appendix E)."""
from __future__ import annotations

import math

import torch
from torch import nn


class SpatialEmbedding(nn.Module):
    """PTR's learned spatial embedding: out[b, c, k] = sum_{h,w} f[b, c, h, w] * W[h, w, c, k].

    Why: keeps where features are (unlike average pooling) with far fewer parameters than a dense
    layer on the flattened map. The (H, W, C, K) kernel layout follows the official code; the
    output is flattened channel-major to C*K.
    """

    def __init__(self, height: int, width: int, channels: int, num_features: int = 8) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.empty(height, width, channels, num_features))
        # LeCun-normal over the summed dimension (H*W), as a dense layer of that fan-in.
        nn.init.normal_(self.kernel, std=1.0 / math.sqrt(height * width))
        self.out_dim = channels * num_features

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.einsum('bchw,hwck->bck', f, self.kernel).flatten(1)


class SpatialSoftmax(nn.Module):
    """Expected (x, y) image coordinates of each channel's softmax over space -> 2C (ablation)."""

    def __init__(self, height: int, width: int, channels: int) -> None:
        super().__init__()
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width),
                                indexing='ij')
        self.register_buffer('pos', torch.stack([xs.flatten(), ys.flatten()], 1))  # (HW, 2)
        self.out_dim = 2 * channels

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        attn = torch.softmax(f.flatten(2), dim=-1)  # (B, C, HW)
        return (attn @ self.pos).flatten(1)  # (B, C*2)


class GlobalAvgPool(nn.Module):
    """Mean over space -> C (ablation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.out_dim = channels

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f.mean(dim=(2, 3))


class Flatten(nn.Module):
    """Flatten the whole map -> C*H*W (COG)."""

    def __init__(self, height: int, width: int, channels: int) -> None:
        super().__init__()
        self.out_dim = channels * height * width

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f.flatten(1)


def build_pooling(name: str, height: int, width: int, channels: int,
                  num_spatial_features: int) -> nn.Module:
    if name == 'spatial_embedding':
        return SpatialEmbedding(height, width, channels, num_spatial_features)
    if name == 'spatial_softmax':
        return SpatialSoftmax(height, width, channels)
    if name == 'gap':
        return GlobalAvgPool(channels)
    if name == 'flatten':
        return Flatten(height, width, channels)
    raise ValueError(f'network.pooling: unknown pooling {name!r}')
