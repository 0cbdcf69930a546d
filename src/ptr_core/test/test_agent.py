"""Agent updates, exact resume, deployable policy and weight hot-swap."""
import numpy as np
import pytest
import torch

from ptr_core.agent import Agent
from ptr_core.checkpoint import CheckpointError
from ptr_core.config import load_config
from ptr_core.policy import DeployablePolicy
from ptr_core.task_registry import TaskRegistry

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


def test_overrides_of_a_loaded_agent_take_effect(tmp_path, caplog):
    agent = Agent(load_config(None, TINY + ['agent.grad_clip=1.0']))
    for i in range(2):
        agent.update(make_batch(i))
    assert float(agent.log_temp.detach().exp()) != pytest.approx(1.0)  # the temperature has moved
    agent.save(tmp_path / 'a.pt')
    with caplog.at_level('INFO', logger='ptr_core.agent'):
        a2 = Agent.load(tmp_path / 'a.pt', ['agent.policy_lr=1e-5', 'agent.q_lr=3e-5',
                                            'agent.temperature_lr=0.002',
                                            'agent.init_temperature=0.01'])
    lrs = {k: [g['lr'] for g in o.param_groups] for k, o in a2.optimizers.items()}
    assert lrs == {'actor': [1e-5], 'critic': [3e-5], 'temperature': [0.002]}
    assert float(a2.log_temp.detach().exp()) == pytest.approx(0.01)
    # The moments survive (only the rate changed): Adam's step count is the saved one.
    st = a2.optimizers['critic'].state_dict()['state']
    assert int(next(iter(st.values()))['step']) == 2
    assert a2.changed_settings['agent.policy_lr'] == (1e-4, 1e-5)
    assert 'agent.policy_lr' in caplog.text and '1e-05' in caplog.text
    # An actor step of lr 1e-5 moves the weights by at most ~1e-5 (Adam's step is ~lr).
    before = [p.detach().clone() for p in a2.policy.actor.parameters()]
    m = a2.update(make_batch(5))
    after = [p.detach() for p in a2.policy.actor.parameters()]
    moved = max(float((p - q).abs().max()) for p, q in zip(after, before))
    assert 0 < moved <= 1.5e-5
    assert 'grad_norm_actor' in m and 'grad_norm_critic' in m
    # Without overrides nothing changes: the saved temperature and rates come back.
    a3 = Agent.load(tmp_path / 'a.pt')
    assert a3.changed_settings == {}
    assert float(a3.log_temp.detach()) == pytest.approx(float(agent.log_temp.detach()))
    assert a3.optimizers['actor'].param_groups[0]['lr'] == 1e-4


def test_unsharing_the_encoder_copies_it_and_isolates_the_actor(tmp_path):
    agent = Agent(load_config(None, TINY + ['network.shared_encoder=true']))
    agent.update(make_batch(0))
    agent.save(tmp_path / 'a.pt')
    a2 = Agent.load(tmp_path / 'a.pt', ['agent.unshare_encoder=true'])
    assert not a2.encoder_shared and a2.policy.encoder is not a2.critic.encoder
    for p, q in zip(a2.policy.encoder.parameters(), a2.critic.encoder.parameters()):
        assert torch.equal(p, q)  # a copy of the trained encoder, not a fresh one
    assert a2.fingerprint == agent.fingerprint  # the deployed network is unchanged
    critic_enc = [p.detach().clone() for p in a2.critic.encoder.parameters()]
    actor_enc = [p.detach().clone() for p in a2.policy.encoder.parameters()]
    a2.update(make_batch(1))
    moved = [not torch.equal(p, q) for p, q in zip(a2.critic.encoder.parameters(), critic_enc)]
    assert any(moved)  # the critic trains its encoder ...
    # ... and the actor's copy moves only by the actor's own (policy_lr-sized) step.
    for p, q in zip(a2.policy.encoder.parameters(), actor_enc):
        assert float((p.detach() - q).abs().max()) <= 1.5 * a2.cfg.agent.policy_lr
    a2.save(tmp_path / 'b.pt')
    a3 = Agent.load(tmp_path / 'b.pt')
    assert a3.cfg.agent.unshare_encoder and not a3.encoder_shared
    assert a3.update(make_batch(2)) == a2.update(make_batch(2))


def test_policy_average_is_deployed_saved_and_exported(tmp_path):
    from ptr_core.checkpoint import export_policy
    agent = Agent(load_config(None, TINY + ['network.shared_encoder=true',
                                            'agent.policy_ema=0.75']))
    avg = [p.detach().clone() for p in agent.policy.parameters()]
    # decay min(0.75, (1 + t) / (10 + t)) at step t: 0.1 at t=0, 2/11 at t=1, 0.75 from t=26
    for t, decay in [(0, 0.1), (1, 2 / 11), (26, 0.75)]:
        agent.step = t
        agent.update(make_batch(t))
        now = [p.detach() for p in agent.policy.parameters()]
        avg = [a + (1 - decay) * (p - a) for a, p in zip(avg, now)]
    got = list(agent.policy_avg.parameters())
    assert len(got) == len(avg)  # the shared encoder is averaged too
    for a, g in zip(avg, got):
        assert torch.allclose(a, g, atol=1e-6)
    assert any(not torch.allclose(a, p) for a, p in zip(avg, agent.policy.parameters()))

    def same(net):
        return all(torch.equal(p, q) for p, q in zip(net.parameters(),
                                                       agent.policy_avg.parameters()))
    assert same(agent.deployable().net)
    agent.save(tmp_path / 'a.pt')
    assert same(DeployablePolicy.load(tmp_path / 'a.pt').net)
    assert same(DeployablePolicy.load(export_policy(tmp_path / 'a.pt', tmp_path / 'p.pt')).net)
    assert same(Agent.load(tmp_path / 'a.pt').policy_avg)


def test_policy_average_switched_on_for_a_loaded_agent_starts_from_its_actor(tmp_path):
    agent = Agent(load_config(None, TINY + ['agent.policy_ema=0']))
    assert agent.policy_avg is None
    agent.update(make_batch(0))
    assert all(torch.equal(p, q) for p, q in zip(agent.deployable().net.parameters(),
                                                  agent.policy.parameters()))
    agent.save(tmp_path / 'a.pt')
    again = Agent.load(tmp_path / 'a.pt', ['agent.policy_ema=0.9'])
    assert all(torch.equal(p, q) for p, q in zip(again.policy_avg.parameters(),
                                                  agent.policy.parameters()))
