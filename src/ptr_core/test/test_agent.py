"""Agent updates, exact resume, deployable policy and weight hot-swap."""
import numpy as np
import pytest
import torch

from ptr_core.agent import Agent
from ptr_core.checkpoint import CheckpointError
from ptr_core.config import load_config
from ptr_core.policy import DeployablePolicy
from ptr_core.tasks import TaskRegistry

torch.set_num_threads(1)
TINY = ['network.image_size=48', 'network.encoder=cog_conv', 'network.cog_channels=4',
        'network.pooling=spatial_embedding', 'network.bottleneck_dim=16',
        'network.q_hidden=16,16', 'network.policy_hidden=16,16', 'network.num_tasks=4',
        'train.batch_size=8']


def make_batch(seed, b=8, s=48, tasks=4):
    g = torch.Generator().manual_seed(seed)
    return {'image': torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, generator=g),
            'next_image': torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, generator=g),
            'state': torch.randn(b, 7, generator=g), 'next_state': torch.randn(b, 7, generator=g),
            'action': torch.rand(b, 7, generator=g) * 1.8 - 0.9,
            'reward': torch.randn(b, generator=g), 'terminal': (torch.rand(b, generator=g) > 0.8
                                                                 ).float(),
            'task': torch.randint(0, tasks, (b,), generator=g),
            'mc_return': torch.randn(b, generator=g)}


@pytest.mark.parametrize('extra', [[], ['agent.calql=true', 'network.shared_encoder=true'],
                                   ['agent.algo=bc', 'network.policy_dropout=0.2'],
                                   ['agent.bc_warmstart_steps=4']])
def test_resume_reproduces_the_next_loss_exactly(tmp_path, extra):
    agent = Agent(load_config(None, TINY + extra))
    for i in range(3):
        agent.update(make_batch(i))
    agent.save(tmp_path / 'a.pt')
    want = agent.update(make_batch(3))
    params = [p.detach().clone() for p in agent.policy.parameters()]
    torch.manual_seed(1234)  # disturb the global RNG: load must restore it
    again = Agent.load(tmp_path / 'a.pt')
    assert again.step == 3
    got = again.update(make_batch(3))
    assert got == want
    for p, q in zip(params, again.policy.parameters()):
        assert torch.equal(p, q)


def test_update_moves_online_nets_and_targets_by_polyak():
    agent = Agent(load_config(None, TINY + ['agent.polyak=0.5']))
    tgt0 = [p.clone() for p in agent.target.parameters()]
    on0 = [p.clone() for p in agent.critic.parameters()]
    m = agent.update(make_batch(0))
    assert np.isfinite(list(m.values())).all()
    for t0, t1, p1 in zip(tgt0, agent.target.parameters(), agent.critic.parameters()):
        assert torch.allclose(t1, t0 + 0.5 * (p1 - t0), atol=1e-6)
    assert any(not torch.equal(p0, p1) for p0, p1 in zip(on0, agent.critic.parameters()))
    q = agent.q_values(make_batch(1))
    assert q.shape == (8,)


def test_cql_lowers_q_of_unseen_actions_relative_to_data():
    """Steps on one fixed batch: Q(s, data action) must rise above Q(s, uniform action)."""
    agent = Agent(load_config(None, TINY + ['agent.cql_alpha=5', 'agent.q_lr=1e-3']))
    b = make_batch(0)
    unif = torch.rand(8, 16, 7, generator=torch.Generator().manual_seed(5)) * 2 - 1

    def advantage():
        with torch.no_grad():
            obs = agent.critic.embed(b['image'], b['state'])
            q_data = agent.critic.q(obs, b['task'], b['action']).mean()
            return float(q_data - agent.critic.q(obs, b['task'], unif).mean())

    before = advantage()
    for _ in range(80):
        agent.update(b)
    assert advantage() > before + 0.25


def test_deployable_policy_acts_and_hot_swaps(tmp_path):
    reg = TaskRegistry.create(['OpenDrawer', 'CloseDrawer'], num_placeholders=2)
    agent = Agent(load_config(None, TINY), tasks=reg.to_dict(), target_task='CloseDrawer')
    agent.save(tmp_path / 'a.pt')
    pol = DeployablePolicy.load(tmp_path / 'a.pt')
    assert pol.task_id == 1 and pol.image_size == 48 and pol.fingerprint == agent.fingerprint
    img = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    state = np.zeros(7, np.float32)
    a = pol.act(img, state)
    assert a.shape == (7,) and a.dtype == np.float32 and np.abs(a).max() < 1
    # The greedy action is tanh of the actor mean, computed here with the agent's own actor.
    with torch.no_grad():
        x = torch.from_numpy(img).permute(2, 0, 1)[None]
        mean, _ = agent.policy.actor.dist(agent.policy.obs(x, torch.zeros(1, 7)),
                                          torch.tensor([1]))
    assert np.allclose(a, torch.tanh(mean)[0].numpy(), atol=1e-6)
    s1 = pol.act(img, state, greedy=False, generator=torch.Generator().manual_seed(0))
    assert not np.allclose(s1, a)
    # Train a little, hot-swap the new weights in: actions follow.
    for i in range(2):
        agent.update(make_batch(i))
    version = pol.load_state_bytes(agent.policy_state_bytes(version=7))
    assert version == 7
    assert np.allclose(pol.act(img, state), agent.deployable('CloseDrawer').act(img, state))
    other = Agent(load_config(None, TINY + ['network.policy_hidden=32']))
    with pytest.raises(ValueError, match='fingerprint: expected'):
        pol.load_state_bytes(other.policy_state_bytes())
    with pytest.raises(ValueError, match=r'image: expected uint8 \(48, 48, 3\)'):
        pol.act(np.zeros((64, 64, 3), np.uint8), state)


def test_loading_with_network_overrides_is_refused(tmp_path):
    agent = Agent(load_config(None, TINY))
    agent.save(tmp_path / 'a.pt')
    a2 = Agent.load(tmp_path / 'a.pt', ['train.tau=0.9', 'agent.calql=true'])
    assert a2.cfg.train.tau == 0.9 and a2.cfg.agent.calql
    with pytest.raises(CheckpointError, match='keeps its architecture'):
        Agent.load(tmp_path / 'a.pt', ['network.q_hidden=8'])


@pytest.mark.parametrize('name', [pytest.param('ptr_real', marks=pytest.mark.slow),
                                  'ptr_sim_cpu', 'cog'])
def test_every_preset_builds_and_takes_a_finite_step(name):
    cfg = load_config(None, ['network.num_tasks=4', 'train.batch_size=2'], preset_name=name)
    agent = Agent(cfg)
    m = agent.update(make_batch(0, b=2, s=cfg.network.image_size))
    assert np.isfinite(list(m.values())).all() and agent.step == 1
