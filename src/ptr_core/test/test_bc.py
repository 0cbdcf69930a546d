"""BC and AW-BC against hand computations."""
import math

import torch

from ptr_core.algos import awbc_loss, awbc_weights, bc_loss
from ptr_core.config import AgentConfig, Config, NetworkConfig
from ptr_core.nets import Critic
from ptr_core.policy import PolicyNet

torch.set_num_threads(1)


def test_awbc_weights_by_hand():
    q_data = torch.tensor([1.0, 0.0, 5.0])
    q_samples = torch.tensor([[2.0, 0.5], [-1.0, -3.0], [1.0, 2.0]])
    w = awbc_weights(q_data, q_samples, temperature=2.0, max_weight=3.0)
    # max: 2, -1, 2 -> exp((1-2)/2), exp((0+1)/2), exp((5-2)/2) = 4.48 clipped to 3.
    want = [math.exp(-0.5), math.exp(0.5), 3.0]
    assert torch.allclose(w, torch.tensor(want), atol=1e-6)


def _setup():
    net = NetworkConfig(image_size=48, encoder='cog_conv', cog_channels=4, pooling='gap',
                        bottleneck_dim=8, q_hidden=(8,), policy_hidden=(8,), num_tasks=2,
                        channels_last=False)
    torch.manual_seed(0)
    cfg = Config(network=net)
    g = torch.Generator().manual_seed(3)
    batch = {'image': torch.randint(0, 256, (4, 3, 48, 48), dtype=torch.uint8, generator=g),
             'state': torch.randn(4, 7, generator=g),
             'action': torch.rand(4, 7, generator=g) * 2 - 1, 'task': torch.tensor([0, 1, 1, 0])}
    return cfg, PolicyNet(cfg), Critic(net), batch


def test_bc_loss_is_the_mse_of_the_tanh_mean():
    cfg, policy, _, batch = _setup()
    policy.eval()
    loss, m = bc_loss(policy, batch)
    mean, _ = policy.actor.dist(policy.obs(batch['image'], batch['state']), batch['task'])
    want = ((torch.tanh(mean) - batch['action']) ** 2).sum() / (4 * 7)
    assert torch.allclose(loss, want, atol=1e-6)
    w = torch.tensor([1.0, 0.0, 2.0, 0.5])
    per = ((torch.tanh(mean) - batch['action']) ** 2).mean(-1)
    assert torch.allclose(bc_loss(policy, batch, w)[0], (per * w).mean(), atol=1e-6)


def test_awbc_loss_weights_each_sample_by_its_advantage():
    cfg, policy, critic, batch = _setup()
    policy.eval()
    acfg = AgentConfig(awbc_num_actions=5, awbc_temperature=1.0, awbc_max_weight=20.0)
    gen = torch.Generator().manual_seed(11)
    ref = torch.Generator()
    ref.set_state(gen.get_state())
    loss, m = awbc_loss(policy, critic, batch, acfg, gen)
    unif = torch.rand((4, 5, 7), generator=ref) * 2 - 1
    with torch.no_grad():
        qd = critic(batch['image'], batch['state'], batch['task'], batch['action']).min(0).values
        qs = torch.stack([critic(batch['image'], batch['state'], batch['task'], unif[:, j])
                          .min(0).values for j in range(5)], -1)
    w = torch.exp(qd - qs.max(-1).values).clamp(max=20.0)
    assert torch.allclose(m['awbc_weight'], w.mean(), atol=1e-5)
    assert torch.allclose(loss, bc_loss(policy, batch, w)[0], atol=1e-6)
