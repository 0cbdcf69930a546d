"""CQL(H) / Cal-QL losses against hand computations written with plain torch ops."""
import dataclasses
import math

import torch

from ptr_core.algos import conservative_logsumexp, cql_losses, critic_loss_from_values, td_target
from ptr_core.config import AgentConfig, Config, NetworkConfig
from ptr_core.nets import Critic
from ptr_core.policy import PolicyNet

torch.set_num_threads(1)
LOG2 = math.log(2.0)


def test_td_target_max_backup_and_entropy_by_hand():
    # q'(e, b, n) for E=2, B=2, Nn=2.
    qn = torch.tensor([[[1.0, 4.0], [2.0, -1.0]], [[3.0, 0.0], [1.0, 5.0]]])
    logp = torch.tensor([[0.5, -1.0], [0.0, 2.0]])
    r, d = torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])
    cfg = AgentConfig(discount=0.9, max_backup=True, backup_entropy=False)
    # min over e: b0 -> [1, 0], b1 -> [1, -1]; max over n: b0 1, b1 1.
    y = td_target(qn, logp, r, d, torch.tensor(0.5), cfg)
    assert torch.allclose(y, torch.tensor([1.0 + 0.9 * 1.0, -1.0]))
    cfg = dataclasses.replace(cfg, max_backup=False, backup_entropy=True)
    # first sample only, minus 0.5 * logp: b0 -> 1 - 0.25 = 0.75.
    y = td_target(qn, logp, r, torch.zeros(2), torch.tensor(0.5), cfg)
    assert torch.allclose(y, torch.tensor([1.0 + 0.9 * 0.75, -1.0 + 0.9 * (1.0 - 0.0)]))


def test_conservative_term_and_critic_loss_by_hand():
    cfg = AgentConfig(importance_sampling=True, calql=False)
    qu = torch.tensor([[[1.0], [2.0]], [[0.5], [-1.0]]])  # (E=2, B=2, Nu=1)
    qp = torch.tensor([[[0.0], [3.0]], [[1.0], [2.0]]])
    lp = torch.tensor([[-2.0], [1.0]])
    qn = torch.tensor([[[2.0], [1.0]], [[0.0], [0.0]]])
    ln = torch.tensor([[0.5], [-0.5]])
    qd = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    lse = conservative_logsumexp(qu, qp, lp, qn, ln, qd, cfg)

    def lse_hand(u, p, lp_, n, ln_):
        return math.log(math.exp(u + 7 * LOG2) + math.exp(p - lp_) + math.exp(n - ln_))

    want = torch.tensor([[lse_hand(1.0, 0.0, -2.0, 2.0, 0.5), lse_hand(2.0, 3.0, 1.0, 1.0, -0.5)],
                         [lse_hand(0.5, 1.0, -2.0, 0.0, 0.5),
                          lse_hand(-1.0, 2.0, 1.0, 0.0, -0.5)]])
    assert torch.allclose(lse, want, atol=1e-5)
    y = torch.tensor([0.5, 1.5])
    loss, m = critic_loss_from_values(qd, y, lse, alpha=10.0)
    td = [((1.0 - 0.5) ** 2 + (2.0 - 1.5) ** 2) / 2, ((0.0 - 0.5) ** 2 + (1.0 - 1.5) ** 2) / 2]
    gap = [(want[0, 0] - 1.0 + want[0, 1] - 2.0) / 2, (want[1, 0] - 0.0 + want[1, 1] - 1.0) / 2]
    assert math.isclose(float(loss), ((td[0] + 10 * gap[0]) + (td[1] + 10 * gap[1])) / 2,
                        rel_tol=1e-5)
    assert math.isclose(float(m['td_loss']), 0.25, rel_tol=1e-6)

    # Cal-QL: policy samples' Q lower-bounded by the MC return before the log-density.
    cal = dataclasses.replace(cfg, calql=True)
    mc = torch.tensor([5.0, -10.0])
    lse_c = conservative_logsumexp(qu, qp, lp, qn, ln, qd, cal, mc)
    assert math.isclose(float(lse_c[0, 0]), lse_hand(1.0, 5.0, -2.0, 5.0, 0.5), rel_tol=1e-6)
    assert math.isclose(float(lse_c[0, 1]), float(want[0, 1]), rel_tol=1e-6)  # bound inactive

    # Without importance sampling the data Q joins a plain logsumexp.
    plain = dataclasses.replace(cfg, importance_sampling=False)
    lse_p = conservative_logsumexp(qu, qp, lp, qn, ln, qd, plain)
    assert math.isclose(float(lse_p[1, 0]), math.log(sum(math.exp(v) for v in
                                                         (0.5, 1.0, 0.0, 0.0))), rel_tol=1e-6)


def _tiny():
    net = NetworkConfig(image_size=48, encoder='cog_conv', cog_channels=2, pooling='gap',
                        bottleneck_dim=8, q_hidden=(8, 8), policy_hidden=(8,), num_tasks=3,
                        channels_last=False)
    torch.manual_seed(0)
    critic = Critic(net)
    actor = PolicyNet(Config(network=net))  # own encoder: PolicyNet.actor is an Actor(net)
    target = Critic(net)
    b = 3
    g = torch.Generator().manual_seed(1)
    batch = {'image': torch.randint(0, 256, (b, 3, 48, 48), dtype=torch.uint8, generator=g),
             'next_image': torch.randint(0, 256, (b, 3, 48, 48), dtype=torch.uint8, generator=g),
             'state': torch.randn(b, 7, generator=g), 'next_state': torch.randn(b, 7, generator=g),
             'action': torch.rand(b, 7, generator=g) * 1.8 - 0.9,
             'reward': torch.tensor([-1.0, 10.0, -1.0]), 'terminal': torch.tensor([0., 1., 0.]),
             'task': torch.tensor([0, 2, 1]), 'mc_return': torch.tensor([3.0, 10.0, -20.0])}
    return critic, target, actor, batch


def _reference(critic, target, actor, log_temp, batch, cfg, g):
    """Plain per-sample computation of the CQL losses with the same noise draws."""
    b, a_dim = batch['action'].shape
    eps_pi = torch.randn((b, cfg.num_policy_actions, a_dim), generator=g)
    eps_nx = torch.randn((b, cfg.num_next_actions, a_dim), generator=g)
    unif = torch.rand((b, cfg.num_uniform_actions, a_dim), generator=g) * 2 - 1

    def pi(image, state):
        mean, log_std = actor.dist(actor.embed(image, state), batch['task'])
        mean, std = mean.unsqueeze(1), log_std.exp().unsqueeze(1)
        return mean, std

    def sample(mean, std, eps):
        u = mean + std * eps
        a = torch.tanh(u)
        logp = (torch.distributions.Normal(mean, std).log_prob(u)
                - torch.log(1 - torch.tanh(u) ** 2)).sum(-1)
        return a, logp

    mean, std = pi(batch['image'], batch['state'])
    a_pi, lp_pi = sample(mean, std, eps_pi)
    with torch.no_grad():
        nmean, nstd = pi(batch['next_image'], batch['next_state'])
        a_nx, lp_nx = sample(nmean, nstd, eps_nx)

    def q_one(net, image, state, act):  # (E, B) for one action per row
        return net(image, state, batch['task'], act)

    temp = log_temp.exp()
    with torch.no_grad():
        qn = torch.stack([q_one(target, batch['next_image'], batch['next_state'], a_nx[:, j])
                          for j in range(a_nx.shape[1])], -1)
        v = qn.min(0).values.max(-1).values
        y = batch['reward'] + cfg.discount * (1 - batch['terminal']) * v
    img, st = batch['image'], batch['state']
    qd = q_one(critic, img, st, batch['action'])
    cols = [q_one(critic, img, st, unif[:, j]) + 7 * LOG2 for j in range(unif.shape[1])]
    lb = batch['mc_return'].unsqueeze(0) if cfg.calql else None
    for acts, lps in ((a_pi.detach(), lp_pi.detach()), (a_nx, lp_nx)):
        for j in range(acts.shape[1]):
            q = q_one(critic, img, st, acts[:, j])
            if lb is not None:
                q = torch.maximum(q, lb)
            cols.append(q - lps[:, j].unsqueeze(0))
    lse = torch.logsumexp(torch.stack(cols, -1), -1)
    critic_loss = (((qd - y) ** 2).mean(1) + cfg.cql_alpha * (lse - qd).mean(1)).mean()
    q_pi = torch.stack([q_one(critic, img, st, a_pi[:, j]) for j in range(a_pi.shape[1])], -1)
    actor_loss = (temp.detach() * lp_pi - q_pi.min(0).values).mean()
    temp_loss = -(log_temp * (lp_pi.detach() + cfg.target_entropy)).mean()
    return critic_loss, actor_loss, temp_loss


def _check(cfg):
    critic, target, actor, batch = _tiny()
    log_temp = torch.nn.Parameter(torch.tensor(-0.3))
    gen = torch.Generator().manual_seed(7)
    ref_gen = torch.Generator()
    ref_gen.set_state(gen.get_state())
    total, m = cql_losses(critic, target, actor, log_temp, batch, cfg, gen, torch.tensor(0),
                          shared=False)
    c_ref, a_ref, t_ref = _reference(critic, target, actor.actor, log_temp, batch, cfg,
                                     ref_gen)
    assert torch.allclose(m['critic_loss'], c_ref, rtol=1e-5, atol=1e-5)
    assert torch.allclose(m['actor_loss'], a_ref, rtol=1e-5, atol=1e-5)
    assert torch.allclose(m['temperature_loss'], t_ref, rtol=1e-5, atol=1e-6)
    assert torch.allclose(total, c_ref + a_ref + t_ref, rtol=1e-5, atol=1e-5)
    return critic, target, actor, batch, log_temp, total, c_ref


def test_cql_losses_of_a_tiny_network_match_the_reference():
    _check(AgentConfig(cql_alpha=10.0, num_policy_actions=2, num_uniform_actions=3,
                       num_next_actions=2, discount=0.96))


def test_calql_losses_match_the_reference():
    _check(AgentConfig(cql_alpha=5.0, num_policy_actions=2, num_uniform_actions=1,
                       num_next_actions=3, calql=True))


def test_actor_loss_does_not_leak_into_critic_gradients():
    cfg = AgentConfig(num_policy_actions=2, num_uniform_actions=2, num_next_actions=2)
    critic, target, actor, batch, log_temp, total, c_ref = _check(cfg)
    total.backward()
    together = [p.grad.clone() for p in critic.parameters()]
    # The actor learns from its loss (its tiny 2-channel convs may be ReLU-dead; the head is not).
    head = list(actor.actor.trunk.parameters()) + list(actor.actor.out.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head)
    critic.zero_grad()
    c_ref.backward()
    for g_all, p in zip(together, critic.parameters()):
        assert torch.allclose(g_all, p.grad, atol=1e-6)
    assert all(p.grad is None for p in target.parameters())
