"""Networks from one registry: encoders (ResNet-GN, COG conv, IMPALA), poolings, Q and policy."""
from __future__ import annotations

from torch import nn

from ptr_core.config import NetworkConfig
from ptr_core.nets.actor import Actor, tanh_gaussian_log_prob, tanh_gaussian_sample
from ptr_core.nets.backbones import CogConv, ImpalaBackbone, ResNetBackbone
from ptr_core.nets.critic import Critic, EnsembleQHead
from ptr_core.nets.encoder import Encoder
from ptr_core.nets.pooling import GlobalAvgPool, SpatialEmbedding, SpatialSoftmax

ENCODERS = ('resnet18', 'resnet34', 'resnet50', 'cog_conv', 'impala')
POOLINGS = ('spatial_embedding', 'spatial_softmax', 'gap', 'flatten')


def build_critic(cfg: NetworkConfig) -> Critic:
    return Critic(cfg)


def build_actor(cfg: NetworkConfig, critic: Critic | None = None) -> Actor:
    """Own encoder by default (paper); with `shared_encoder` it reads the critic's embedding."""
    if cfg.shared_encoder:
        if critic is None:
            raise ValueError('network.shared_encoder: the actor needs the critic to share with')
        return Actor(cfg, own_encoder=False, embed_dim=critic.encoder.out_dim)
    return Actor(cfg)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ['Actor', 'CogConv', 'Critic', 'ENCODERS', 'Encoder', 'EnsembleQHead', 'GlobalAvgPool',
           'ImpalaBackbone', 'POOLINGS', 'ResNetBackbone', 'SpatialEmbedding', 'SpatialSoftmax',
           'build_actor', 'build_critic', 'count_params', 'tanh_gaussian_log_prob',
           'tanh_gaussian_sample']
