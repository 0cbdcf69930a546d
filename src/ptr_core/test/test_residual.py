"""The residual online mode: the bound, the critic's ranking, the frozen policy, the learner."""
import copy

import numpy as np
import pytest
import torch

from ptr_core import checkpoint as ckpt
from ptr_core.agent import Agent
from ptr_core.learners.residual import ResidualLearner
from ptr_core.policy import DeployablePolicy
from ptr_core.residual import ResidualHead, ResidualPolicy, ResidualSettings
from ptr_core.task_registry import TaskRegistry
from ptr_core.testing import tiny_config

torch.set_num_threads(1)
SIZE = 32


def offline_agent(tmp_path, seed=0):
    cfg = tiny_config(SIZE)
    cfg.train.seed = seed
    reg = TaskRegistry.create(['CloseDrawer', 'OpenDoor'])
    agent = Agent(cfg, reg.to_dict(), 'OpenDoor')
    return agent, agent.save(tmp_path / 'offline.pt')


def observation(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 255, (SIZE, SIZE, 3), np.uint8),
            rng.uniform(-0.2, 0.4, 7).astype(np.float32))


def batch(n=16, seed=0, task=1):
    g = torch.Generator().manual_seed(seed)
    def img():
        return torch.randint(0, 255, (n, 3, SIZE, SIZE), generator=g, dtype=torch.uint8)
    action = torch.rand((n, 7), generator=g) * 2 - 1
    return {'image': img(), 'state': torch.rand((n, 7), generator=g), 'action': action,
            'next_image': img(), 'next_state': torch.rand((n, 7), generator=g),
            'task': torch.full((n,), task), 'terminal': torch.ones(n),
            # a reward the critic can learn from the action alone: best at a[0] = +1
            'reward': action[:, 0].clone()}


def test_the_correction_never_exceeds_its_bound_and_starts_at_zero():
    head = ResidualHead(20, 3, bound=0.15, hidden=(16,))
    obs, task = torch.randn(8, 20), torch.randint(0, 3, (8,))
    acts = torch.rand(8, 5, 7) * 2 - 1
    assert torch.count_nonzero(head(obs, task, acts)) == 0  # zero-initialized last layer
    with torch.no_grad():
        for p in head.parameters():
            p.normal_(0, 50.0)  # saturate: tanh reaches +-1
    delta = head(obs * 100, task, acts)
    assert delta.abs().max() <= 0.15 + 1e-7
    assert delta.abs().max() > 0.149  # the bound is reached, not a smaller one


def test_one_proposal_and_no_correction_act_as_the_offline_policy(tmp_path):
    agent, path = offline_agent(tmp_path)
    plain = DeployablePolicy.load(path, 'OpenDoor')
    res = ResidualPolicy.from_payload(ckpt.load(path), ResidualSettings(0.2, 1), 'OpenDoor')
    img, state = observation()
    np.testing.assert_allclose(res.act(img, state), plain.act(img, state), atol=1e-6)
    assert res.last_correction == 0.0


def test_the_critic_picks_the_best_valued_proposal(tmp_path):
    """Against an independent ranking: each proposal valued alone by the checkpoint's critic."""
    agent, path = offline_agent(tmp_path)
    res = ResidualPolicy.from_payload(ckpt.load(path), ResidualSettings(0.2, 6), 'OpenDoor')
    with torch.no_grad():  # a non-zero correction, so the ranking sees corrected actions
        res.net.head.out.bias.copy_(torch.linspace(-1, 1, 7))
    img, state = observation(3)
    gen = torch.Generator().manual_seed(7)
    chosen = res.act(img, state, greedy=False, generator=gen)
    # the same proposals by hand: mean, then 5 samples of the same noise
    i, s = res._inputs(img, state)
    with torch.no_grad():
        obs = res.net.base.obs(i, s)
        mean, log_std = res.net.base.actor.dist(obs, res._task_t)
        eps = torch.randn((1, 5, 7), generator=torch.Generator().manual_seed(7))
        props = torch.tanh(torch.cat([mean.unsqueeze(1),
                                      mean.unsqueeze(1) + log_std.exp().unsqueeze(1) * eps], 1))
        values = []
        for k in range(6):
            a = (props[:, k] + res.net.head(obs, res._task_t, props[:, k:k + 1])[:, 0])
            a = a.clamp(-1, 1)
            q = agent.critic(i, s, res._task_t, a).min(dim=0).values
            values.append((float(q), a[0].numpy()))
    best = max(values, key=lambda v: v[0])[1]
    np.testing.assert_allclose(chosen, best, atol=1e-5)
    assert 0 < res.last_correction <= 0.2 + 1e-7
    # greedy: the same action for the same observation, whatever generator is passed
    np.testing.assert_array_equal(res.act(img, state), res.act(img, state, generator=gen))


def test_a_checkpoint_without_a_critic_is_refused_in_one_line(tmp_path):
    _, path = offline_agent(tmp_path)
    export = ckpt.export_policy(path, tmp_path / 'policy.pt')
    with pytest.raises(ValueError, match=r'policy\.pt: critic: the residual mode ranks'):
        ResidualPolicy.from_payload(ckpt.load(export), ResidualSettings(), where=str(export))


def test_the_learner_trains_critic_and_head_never_the_policy(tmp_path):
    agent, path = offline_agent(tmp_path)
    learner = ResidualLearner(Agent.load(path), ResidualSettings(0.3, 4), lr=1e-3, q_lr=1e-3)
    base = {k: v.clone() for k, v in learner.net.base.state_dict().items()}
    actor = {k: v.clone() for k, v in learner.agent.policy.state_dict().items()}
    critic = {k: v.clone() for k, v in learner.agent.critic.state_dict().items()}
    for i in range(5):
        m = learner.update(batch(seed=i))
    assert np.isfinite(m['td_loss']) and m['correction_max'] <= 0.3 + 1e-6
    for k, v in learner.net.base.state_dict().items():
        assert torch.equal(v, base[k]), k
    for k, v in learner.agent.policy.state_dict().items():
        assert torch.equal(v, actor[k]), k
    assert any(not torch.equal(v, critic[k]) for k, v in learner.agent.critic.state_dict().items())
    assert learner.net.head.out.weight.abs().sum() > 0
    assert learner.step == 5


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_the_correction_moves_actions_towards_higher_reward(tmp_path, seed):
    """Reward a[0] on terminal transitions: the critic learns it, and the head's correction of
    dimension 0 must become positive on held-out observations (hand reasoning: dQ/da0 > 0)."""
    agent, path = offline_agent(tmp_path, seed)
    learner = ResidualLearner(Agent.load(path), ResidualSettings(0.3, 4), lr=1e-3, q_lr=3e-3,
                              reg=0.0)
    for i in range(300):
        learner.update(batch(32, seed=1000 * seed + i))
    b = learner._to(batch(64, seed=99))
    with torch.no_grad():
        obs = learner.net.base.obs(b['image'], b['state'])
        props = learner.net.proposals(obs, b['task'], 4, torch.Generator().manual_seed(0))
        _, delta = learner.net.corrected(obs, b['task'], props)
    mean0 = float(delta[..., 0].mean())
    assert mean0 > 0.1, f'seed {seed}: mean correction of a[0] {mean0:.3f}'


def test_save_load_and_the_published_weights_reach_a_policy_node_policy(tmp_path):
    """The trainer's checkpoint loads as the same ResidualPolicy; its published weights
    hot-swap into the policy the node builds from the offline checkpoint (same fingerprint);
    a node with another bound refuses them."""
    _, path = offline_agent(tmp_path)
    learner = ResidualLearner(Agent.load(path), ResidualSettings(0.25, 4), lr=1e-3, q_lr=1e-3)
    for i in range(3):
        learner.update(batch(seed=i))
    saved = learner.save(tmp_path / 'online.pt', {'progress': {}})
    loaded = DeployablePolicy.load(saved, 'OpenDoor')
    assert isinstance(loaded, ResidualPolicy) and loaded.settings.bound == 0.25
    node = ResidualPolicy.from_payload(ckpt.load(path), ResidualSettings(0.25, 4), 'OpenDoor')
    img, state = observation(5)
    before = node.act(img, state)
    assert node.load_state_bytes(learner.policy_state_bytes(7)) == 7
    np.testing.assert_allclose(node.act(img, state), loaded.act(img, state), atol=1e-6)
    assert not np.allclose(before, node.act(img, state))
    other = ResidualPolicy.from_payload(ckpt.load(path), ResidualSettings(0.1, 4), 'OpenDoor')
    with pytest.raises(ValueError, match='fingerprint'):
        other.load_state_bytes(learner.policy_state_bytes(8))
    with pytest.raises(ValueError, match='residual bound: expected 0.1, got 0.25'):
        ResidualPolicy.from_payload(ckpt.load(saved), ResidualSettings(0.1, 4))


def test_a_rollback_snapshot_restores_the_head(tmp_path):
    _, path = offline_agent(tmp_path)
    learner = ResidualLearner(Agent.load(path), ResidualSettings(0.2, 2), lr=1e-3, q_lr=1e-3)
    snap = copy.deepcopy(learner.state())  # as the trainer keeps it (state() shares storage)
    head = {k: v.clone() for k, v in learner.net.head.state_dict().items()}
    for i in range(3):
        learner.update(batch(seed=i))
    learner.load_state(snap, 'rollback snapshot', restore_rng=False)
    for k, v in learner.net.head.state_dict().items():
        assert torch.equal(v, head[k]), k


def test_the_conservative_term_by_hand(tmp_path):
    """Alpha's term: per critic and observation, log sum exp over the uniform actions' Q and
    the proposals' Q bounded below by the MC return (Cal-QL), minus Q of the data action;
    averaged. Computed here one action at a time."""
    _, path = offline_agent(tmp_path)
    learner = ResidualLearner(Agent.load(path), ResidualSettings(0.2, 3), cql_alpha=0.5,
                              calql=True, uniform_actions=2)
    b = learner._to(batch(4, seed=1))
    b['mc_return'] = torch.tensor([5.0, -1.0, 0.2, -30.0])
    critic, task = learner.agent.critic, b['task']
    with torch.no_grad():
        obs = critic.embed(b['image'], b['state'])
        q_data = critic.q(obs, task, b['action'])
        cands = torch.rand(4, 3, 7, generator=torch.Generator().manual_seed(2)) * 2 - 1
        before = learner.generator.get_state()
        gap = (learner._conservative_lse(obs, task, cands, b) - q_data).mean()
        learner.generator.set_state(before)
        unif = torch.rand((4, 2, 7), generator=learner.generator) * 2 - 1

        def q(i, a):
            return critic.q(obs[i:i + 1], task[i:i + 1], a.view(1, 7))[:, 0]  # (E,)
        terms = []
        for i in range(4):
            vals = [q(i, a) for a in unif[i]]
            vals += [torch.maximum(q(i, a), b['mc_return'][i]) for a in cands[i]]
            v = torch.stack(vals, dim=-1)  # (E, 5)
            terms.append(torch.log(torch.exp(v).sum(-1)) - q_data[:, i])
    assert float(gap) == pytest.approx(float(torch.stack(terms).mean()), rel=1e-5, abs=1e-5)
    # the bound binds where the MC return is high (5.0), and not at -30
    with torch.no_grad():
        assert float(critic.q(obs[:1], task[:1], cands[0]).max()) < 5.0
