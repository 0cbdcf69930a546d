"""Encoder shapes, spatial-embedding arithmetic, the Q-head's action paths and batching."""
import dataclasses

import pytest
import torch

from ptr_core.config import NetworkConfig
from ptr_core.nets import (
    Actor,
    Critic,
    Encoder,
    EnsembleQHead,
    SpatialEmbedding,
    tanh_gaussian_log_prob,
    tanh_gaussian_sample,
)

torch.set_num_threads(1)


def _net(**kw) -> NetworkConfig:
    return dataclasses.replace(NetworkConfig(), **kw)


# PTR's stride layout: stem /4, then only stage 2 downsamples -> /8 overall.
@pytest.mark.parametrize('encoder, size, channels, hw', [
    ('resnet18', 48, 512, 6), ('resnet18', 64, 512, 8), ('resnet18', 128, 512, 16),
    ('resnet34', 48, 512, 6), ('resnet34', 64, 512, 8), ('resnet34', 128, 512, 16),
    ('resnet50', 48, 2048, 6), ('resnet50', 64, 2048, 8), ('resnet50', 128, 2048, 16),
    ('cog_conv', 48, 16, 12), ('cog_conv', 64, 16, 16), ('cog_conv', 128, 16, 32),
    ('impala', 48, 32, 6), ('impala', 64, 32, 8), ('impala', 128, 32, 16),
])
def test_encoder_shapes(encoder, size, channels, hw):
    enc = Encoder(_net(encoder=encoder, image_size=size))
    assert enc.feature_shape == (channels, hw, hw)
    assert enc.pool.out_dim == channels * 8 and enc.out_dim == 256
    with torch.no_grad():
        out = enc(torch.randint(0, 256, (1, 3, size, size), dtype=torch.uint8))
    assert out.shape == (1, 256)
    assert out.abs().max() <= 1.0  # tanh bottleneck


def test_cog_conv_flatten_is_2304_at_48():
    enc = Encoder(_net(encoder='cog_conv', image_size=48, pooling='flatten', bottleneck_dim=0))
    assert enc.out_dim == 2304
    assert enc(torch.zeros(2, 3, 48, 48, dtype=torch.uint8)).shape == (2, 2304)


@pytest.mark.parametrize('pooling, norm, dim', [('spatial_softmax', 'group', 1024),
                                                ('gap', 'group', 512),
                                                ('spatial_embedding', 'batch', 4096)])
def test_ablation_poolings_and_batchnorm(pooling, norm, dim):
    enc = Encoder(_net(encoder='resnet18', image_size=48, pooling=pooling, norm=norm,
                       bottleneck_dim=0))
    assert enc.out_dim == dim
    assert enc(torch.zeros(2, 3, 48, 48, dtype=torch.uint8)).shape == (2, dim)
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in enc.modules())
    has_gn = any(isinstance(m, torch.nn.GroupNorm) and m.num_groups == 4 for m in enc.modules())
    assert (has_bn, has_gn) == ((True, False) if norm == 'batch' else (False, True))


@pytest.mark.parametrize('norm', ['none', 'group', 'batch'])
def test_impala_norm_adds_one_norm_per_stack(norm):
    enc = Encoder(_net(encoder='impala', image_size=48, impala_norm=norm))
    bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in enc.modules())
    gn = sum(isinstance(m, torch.nn.GroupNorm) and m.num_groups == 4 for m in enc.modules())
    stacks = len(_net().impala_channels)
    assert (bn, gn) == {'none': (0, 0), 'group': (0, stacks), 'batch': (stacks, 0)}[norm]
    assert enc(torch.zeros(2, 3, 48, 48, dtype=torch.uint8)).shape == (2, enc.out_dim)


def test_fingerprint_of_a_network_without_the_later_keys_is_what_it_was_before_them():
    """Checkpoints saved before network.impala_norm, use_state and q_layer_norm existed must still
    load: at their defaults the keys are left out of the fingerprint, which is then the hash
    of the older config; any other value changes it."""
    from ptr_core import checkpoint as ckpt
    from ptr_core.config import Config, preset
    from ptr_core.policy import PolicyNet, policy_fingerprint
    cfg = preset('ptr_sim_cpu')
    cfg.network.image_size = 48
    net = PolicyNet(cfg)
    older = {k: v for k, v in Config.to_dict(cfg)['network'].items()
             if k not in ('impala_norm', 'use_state', 'q_layer_norm')}
    assert policy_fingerprint(cfg, net) == ckpt.fingerprint(older | {'kind': 'policy'}, net)
    base = policy_fingerprint(preset('ptr_sim_cpu'), PolicyNet(preset('ptr_sim_cpu')))
    for key, value in (('impala_norm', 'group'), ('use_state', False), ('q_layer_norm', True)):
        changed = preset('ptr_sim_cpu')
        setattr(changed.network, key, value)
        assert policy_fingerprint(changed, PolicyNet(changed)) != base, key


def test_without_the_state_the_policy_ignores_it():
    """network.use_state=false (PTR figure 2: image and task id only): the state slot is zero,
    so actions do not depend on the state; with it, they do."""
    from ptr_core.config import preset
    from ptr_core.policy import PolicyNet
    torch.manual_seed(0)
    image = torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8)
    states = torch.rand(2, 7), torch.rand(2, 7)
    task = torch.zeros(2, dtype=torch.long)
    for used in (False, True):
        cfg = preset('ptr_sim_cpu')
        cfg.network.image_size, cfg.network.use_state = 48, used
        net = PolicyNet(cfg).eval()
        with torch.no_grad():
            a, b = (net.actor.greedy(net.obs(image, s), task) for s in states)
        assert torch.equal(a, b) is not used


def test_spatial_embedding_against_hand_computation():
    se = SpatialEmbedding(height=2, width=2, channels=2, num_features=2)
    with torch.no_grad():
        # kernel[h, w, c, k] = 1 + h + 2w + 4c + 8k, features f[c, h, w] = 10c + 2h + w.
        for h in range(2):
            for w in range(2):
                for c in range(2):
                    for k in range(2):
                        se.kernel[h, w, c, k] = 1 + h + 2 * w + 4 * c + 8 * k
    f = torch.tensor([[[[0., 1.], [2., 3.]], [[10., 11.], [12., 13.]]]])
    # out[c, k] = sum_hw f[c,h,w] * kernel[h,w,c,k]; worked out by hand:
    # c=0,k=0: 0*1 + 1*3 + 2*2 + 3*4 = 19;   c=0,k=1: 0*9 + 1*11 + 2*10 + 3*12 = 67
    # c=1,k=0: 10*5 + 11*7 + 12*6 + 13*8 = 303;  c=1,k=1: 10*13 + 11*15 + 12*14 + 13*16 = 671
    assert se(f).tolist() == [[19.0, 67.0, 303.0, 671.0]]


def _naive_q(head: EnsembleQHead, obs, task, actions):
    """Reference: explicit concat(h, action, obs[, one-hot]) @ W per layer, sample by sample."""
    e_n, b_n, n_n = head.num_qs, obs.shape[0], actions.shape[1]
    out = torch.zeros(e_n, b_n, n_n)
    sizes = head.fed
    offs = [sum(sizes[:i]) for i in range(len(sizes))]
    for e in range(e_n):
        for b in range(b_n):
            onehot = torch.nn.functional.one_hot(task[b], head.num_tasks).float()
            for n in range(n_n):
                a = actions[b, n]
                h = None
                for i, width in enumerate(head.hidden):
                    blocks, inputs = [], []
                    if h is not None:
                        blocks.append(head.w_hidden[i - 1][e])
                        inputs.append(h)
                    if i < len(sizes):
                        cols = slice(offs[i], offs[i] + width)
                        blocks += [head.w_act[e][:, cols], head.w_obs[e][:, cols]]
                        inputs += [a, obs[b]]
                        if i == 0:
                            blocks.append(head.w_task[e])
                            inputs.append(onehot)
                    w_full = torch.cat(blocks, 0)
                    pre = torch.cat(inputs) @ w_full + head.bias[i][e, 0]
                    if head.ln_gain:  # LayerNorm by hand: biased variance, eps 1e-5
                        z = (pre - pre.mean()) / torch.sqrt(pre.var(unbiased=False) + 1e-5)
                        pre = z * head.ln_gain[i][e, 0] + head.ln_bias[i][e, 0]
                    h = torch.relu(pre)
                out[e, b, n] = h @ head.w_out[e][:, 0] + head.b_out[e, 0, 0]
    return out


@pytest.mark.parametrize('every_layer,layer_norm', [(True, False), (False, False),
                                                     (True, True), (False, True)])
def test_batched_ensemble_head_equals_naive_concat_mlp(every_layer, layer_norm):
    torch.manual_seed(0)
    head = EnsembleQHead(obs_dim=5, num_tasks=3, hidden=(6, 4, 3), num_qs=2, action_dim=7,
                         every_layer=every_layer, layer_norm=layer_norm)
    with torch.no_grad():  # gains and biases other than 1 and 0, per critic and unit
        for p in [*head.ln_gain, *head.ln_bias]:
            p.add_(torch.randn_like(p) * 0.5)
    obs, task, acts = torch.randn(4, 5), torch.tensor([0, 2, 1, 2]), torch.rand(4, 3, 7) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(head(obs, task, acts), _naive_q(head, obs, task, acts), atol=1e-5)


def test_action_reaches_every_q_layer():
    """Keep the action block of one layer only: Q must still depend on the action."""
    torch.manual_seed(0)
    hidden = (8, 8, 8)
    for keep in range(len(hidden)):
        head = EnsembleQHead(obs_dim=4, num_tasks=2, hidden=hidden, num_qs=2)
        with torch.no_grad():
            offs = [0, 8, 16, 24]
            for i in range(len(hidden)):
                if i != keep:
                    head.w_act[:, :, offs[i]:offs[i + 1]] = 0
        a = torch.rand(3, 1, 7, requires_grad=True)
        head(torch.randn(3, 4), torch.tensor([0, 1, 0]), a).sum().backward()
        assert a.grad.abs().sum() > 0, f'no action path through layer {keep}'
    # The concat-once ablation has no path once the input layer's action block is gone.
    once = EnsembleQHead(obs_dim=4, num_tasks=2, hidden=hidden, num_qs=2, every_layer=False)
    assert once.w_act.shape[-1] == hidden[0]
    with torch.no_grad():
        once.w_act.zero_()
    a = torch.rand(3, 1, 7, requires_grad=True)
    once(torch.randn(3, 4), torch.tensor([0, 1, 0]), a).sum().backward()
    assert a.grad.abs().sum() == 0


def test_task_one_hot_enters_the_q_input():
    head = EnsembleQHead(obs_dim=4, num_tasks=3, hidden=(8, 8), num_qs=2)
    obs, a = torch.randn(1, 4).repeat(3, 1), torch.zeros(3, 1, 7)
    with torch.no_grad():
        q = head(obs, torch.tensor([0, 1, 2]), a)
    assert not torch.allclose(q[:, 0], q[:, 1]) and not torch.allclose(q[:, 1], q[:, 2])


def test_critic_evaluates_two_qs_and_tiles_embeddings():
    cfg = _net(encoder='cog_conv', image_size=48, cog_channels=4, q_hidden=(16, 16),
               num_tasks=3)
    critic = Critic(cfg)
    img = torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8)
    state = torch.randn(2, 7)
    obs = critic.embed(img, state)
    acts = torch.rand(2, 5, 7) * 2 - 1
    q = critic.q(obs, torch.tensor([0, 2]), acts)
    assert q.shape == (2, 2, 5)
    # One sample at a time through the full critic gives the same numbers.
    single = torch.stack([critic(img, state, torch.tensor([0, 2]), acts[:, n])
                          for n in range(5)], -1)
    assert torch.allclose(q, single, atol=1e-5)
    assert not torch.allclose(q[0], q[1])  # two different critics


def test_encoder_rejects_float_images():
    enc = Encoder(_net(encoder='cog_conv', image_size=48))
    with pytest.raises(TypeError, match='expected uint8'):
        enc(torch.zeros(1, 3, 48, 48))


def test_tanh_gaussian_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    mean, log_std = torch.randn(3, 7), torch.randn(3, 7).clamp(-1, 0.5)
    a, logp = tanh_gaussian_sample(mean, log_std, 4)
    base = torch.distributions.Normal(mean.unsqueeze(1), log_std.exp().unsqueeze(1))
    u = torch.atanh(a.clamp(-1 + 1e-6, 1 - 1e-6))
    ref = (base.log_prob(u) - torch.log(1 - a.pow(2))).sum(-1)
    assert torch.allclose(logp, ref, atol=1e-3, rtol=1e-4)
    assert torch.allclose(tanh_gaussian_log_prob(mean, log_std, a[:, 0]), ref[:, 0],
                          atol=1e-3, rtol=1e-4)


def test_actor_log_std_is_clipped_and_sees_state_and_task():
    cfg = _net(encoder='cog_conv', image_size=48, cog_channels=4, policy_hidden=(16,),
               num_tasks=3)
    actor = Actor(cfg)
    with torch.no_grad():
        actor.out.bias[7:] = 50.0
    obs = torch.randn(2, 256 + 7)  # embedding + state
    mean, log_std = actor.dist(obs, torch.tensor([0, 1]))
    assert log_std.max() == 2.0
    m2, _ = actor.dist(obs, torch.tensor([2, 1]))
    assert not torch.allclose(mean[0], m2[0]) and torch.allclose(mean[1], m2[1])
    obs2 = obs.clone()
    obs2[:, -7:] += 1.0  # the state part
    assert not torch.allclose(actor.dist(obs2, torch.tensor([0, 1]))[0], mean)
