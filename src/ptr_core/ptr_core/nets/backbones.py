"""Convolutional backbones: uint8-free float maps in, (B, C, H, W) feature maps out."""
from __future__ import annotations

from typing import Callable

import torch
import torchvision
from torch import nn


def _norm_layer(kind: str) -> Callable[[int], nn.Module]:
    if kind == 'group':
        return lambda c: nn.GroupNorm(4, c)
    if kind == 'batch':
        return nn.BatchNorm2d
    raise ValueError(f'network.norm: expected group or batch, got {kind!r}')


class ResNetBackbone(nn.Module):
    """torchvision ResNet-18/34/50 trunk with PTR's stride layout.

    PTR's official encoder downsamples in the stem (conv stride 2 + max-pool) and then only in the
    second stage, so a 128 px image ends as a 16x16 map (512 channels for ResNet-18/34).
    torchvision downsamples in stages 2, 3 and 4; we set the first block of stages 3 and 4 to
    stride 1.
    """

    def __init__(self, depth: int, norm: str = 'group') -> None:
        super().__init__()
        ctor = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34,
                50: torchvision.models.resnet50}[depth]
        net = ctor(weights=None, norm_layer=_norm_layer(norm))
        for stage in (net.layer3, net.layer4):
            block = stage[0]
            # BasicBlock strides conv1; torchvision's Bottleneck (v1.5) strides conv2.
            strided = block.conv2 if hasattr(block, 'conv3') else block.conv1
            strided.stride = (1, 1)
            if block.downsample is not None:
                block.downsample[0].stride = (1, 1)
        self.trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                                   net.layer1, net.layer2, net.layer3, net.layer4)
        self.out_channels = 2048 if depth == 50 else 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)


class CogConv(nn.Module):
    """COG's encoder: three 3x3 convs (16 channels, ReLU) with 2x2 max-pools after the first two.

    48 px -> 12x12x16 = 2304 features (COG appendix A).
    """

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
        )
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _ResidualBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(c, c, 3, padding=1)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ImpalaBackbone(nn.Module):
    """IMPALA CNN (Espeholt et al.): per stack conv3x3, max-pool 3/2, two residual blocks.

    Why for CPU: three stacks of (16, 32, 32) channels turn 64 px into an 8x8x32 map at a small
    fraction of a ResNet's FLOPs while keeping residual depth.
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 32), norm: str = 'none') -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for c in channels:
            layers.append(nn.Conv2d(cin, c, 3, padding=1))
            if norm != 'none':  # PTR App. E's GroupNorm-vs-BatchNorm question, at CPU size
                layers.append(_norm_layer(norm)(c))
            layers += [nn.MaxPool2d(3, stride=2, padding=1), _ResidualBlock(c), _ResidualBlock(c)]
            cin = c
        layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_backbone(name: str, norm: str, impala_channels: tuple[int, ...],
                   cog_channels: int, impala_norm: str = 'none') -> nn.Module:
    if name in ('resnet18', 'resnet34', 'resnet50'):
        return ResNetBackbone(int(name[len('resnet'):]), norm)
    if name == 'cog_conv':
        return CogConv(cog_channels)
    if name == 'impala':
        return ImpalaBackbone(tuple(impala_channels), impala_norm)
    raise ValueError(f'network.encoder: unknown encoder {name!r}')
