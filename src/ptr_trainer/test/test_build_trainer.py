"""build_trainer wires a real Agent, datasets and the online buffer; weights hot-swap."""
import json

import numpy as np
import pytest
import torch

from ptr_core.agent import Agent
from ptr_core.data import DatasetWriter
from ptr_core.online_config import OnlineConfig
from ptr_core.task_registry import TaskRegistry
from ptr_core.testing import random_episode, tiny_config
from ptr_trainer.online import build_trainer

torch.set_num_threads(1)
SIZE = 32


def traj(task, seed, length=5, success=False):
    return random_episode(task, seed, length, success, SIZE)


def test_build_trainer_end_to_end(tmp_path):
    reg = TaskRegistry.create(['CloseDrawer', 'OpenDoor'])
    agent = Agent(tiny_config(), reg.to_dict(), 'OpenDoor')
    ckpt = agent.save(tmp_path / 'ft.pt')
    with DatasetWriter(tmp_path / 'prior') as w:
        for i in range(3):
            w.add(traj('CloseDrawer', i, success=True))
    with DatasetWriter(tmp_path / 'demos') as w:
        for i in range(2):
            w.add(traj('OpenDoor', 10 + i, success=True))
    published = []
    cfg = OnlineConfig(mode='calql', utd=2.0, publish_every=4, batch_size=16, warmup_episodes=1,
                       telemetry_every=8)
    trainer = build_trainer(ckpt, tmp_path / 'prior', tmp_path / 'demos', 'OpenDoor',
                            tmp_path / 'online', cfg,
                            on_weights=lambda v, b: published.append((v, b)),
                            checkpoint_dir=tmp_path / 'ckpts', telemetry_dir=tmp_path / 'tel')
    # Online settings of PTR App. F were applied to the loaded agent.
    assert trainer.agent.cfg.agent.cql_alpha == 0.5 and trainer.agent.cfg.agent.calql
    # ... and the online learning rates reached the restored optimizers.
    assert trainer.agent.optimizers['actor'].param_groups[0]['lr'] == cfg.policy_lr
    assert trainer.agent.optimizers['critic'].param_groups[0]['lr'] == cfg.q_lr
    # WSRL warm-up: the first episode is stored but earns no updates; the next one earns utd x T.
    assert trainer.add_episode(traj('OpenDoor', 98, length=3)) == 0
    assert trainer.add_episode(traj('OpenDoor', 99, length=4)) == 8
    assert trainer.train() == 8
    assert [v for v, _ in published] == [1, 2]
    # The telemetry's probe carries the calql mode's own diagnostics per data source.
    probes = [json.loads(x) for x in (tmp_path / 'tel' / 'telemetry.jsonl').read_text()
              .splitlines() if json.loads(x)['kind'] == 'probe']
    for key in ('online/entropy', 'demos/calql_bound_rate', 'prior/td_loss', 'temperature'):
        assert key in probes[-1], key
    assert sorted(p.name for p in (tmp_path / 'ckpts').iterdir()) == [
        'online_0000004.pt', 'online_0000008.pt']
    policy = Agent.load(ckpt).deployable('OpenDoor')
    img, state = traj('OpenDoor', 5).images[0], np.zeros(7, np.float32)
    before = policy.act(img, state)
    assert policy.load_state_bytes(published[-1][1]) == 2
    after = policy.act(img, state)
    assert not np.allclose(before, after)  # the policy now runs the updated weights
    np.testing.assert_allclose(after, trainer.agent.deployable('OpenDoor').act(img, state),
                               atol=1e-6)


def one_episode_each(tmp_path):
    """An untrained offline agent (saved: its path), one prior and one target-demo episode."""
    reg = TaskRegistry.create(['CloseDrawer', 'OpenDoor'])
    ckpt = Agent(tiny_config(), reg.to_dict(), 'OpenDoor').save(tmp_path / 'ft.pt')
    with DatasetWriter(tmp_path / 'prior') as w:
        w.add(traj('CloseDrawer', 1, success=True))
    with DatasetWriter(tmp_path / 'demos') as w:
        w.add(traj('OpenDoor', 10, success=True))
    return ckpt


def test_a_killed_trainer_resumes_without_losing_or_recounting(tmp_path):
    """Trainer 1 takes two episodes, trains and checkpoints at each published version; the
    robot stores a third episode; trainer 1 dies (SIGKILL: no last checkpoint). Trainer 2
    resumes from the newest checkpoint: the two counted episodes are not counted again, the
    third is, the pending updates and the version numbers go on."""
    ckpt = one_episode_each(tmp_path)
    cfg = OnlineConfig(utd=2.0, publish_every=4, batch_size=16, warmup_episodes=0)
    robot = DatasetWriter(tmp_path / 'online', shard_episodes=1, prefix='robot')

    def start(versions, resume=True):
        return build_trainer(ckpt, tmp_path / 'prior', tmp_path / 'demos', 'OpenDoor',
                             tmp_path / 'online', cfg, checkpoint_dir=tmp_path / 'ckpts',
                             on_weights=lambda v, b: versions.append(v), on_event=lambda s: None,
                             resume=resume)
    first_versions: list[int] = []
    first = start(first_versions)
    robot.add(traj('OpenDoor', 20, length=3))
    robot.add(traj('OpenDoor', 21, length=4))
    assert first.ingest() == 2 and first.pending == 14
    assert first.train(max_updates=13) == 13  # checkpoints at updates 4, 8, 12 (each version)
    assert first_versions == [1, 2, 3]
    robot.add(traj('OpenDoor', 22, length=2))  # stored; the trainer dies before taking it
    del first

    second_versions: list[int] = []
    second = start(second_versions)
    assert (second.updates, second.version, second.episodes, second.env_steps) == (12, 3, 2, 7)
    assert second.pending == 2  # owed at the checkpoint: update 13 was lost with trainer 1
    assert second.ingest() == 1  # only the third episode is new
    assert (second.episodes, second.env_steps, second.pending) == (3, 9, 6)
    assert second.ingest() == 0 and len(second.buffer) == 9  # all three are sampled from
    second.train()
    assert second_versions == [4] and second.updates == 18  # versions go on: the policy takes v4

    fresh = start([], resume=False)  # from agent_ckpt: every stored episode counts again
    assert fresh.ingest() == 3 and (fresh.updates, fresh.version, fresh.pending) == (0, 0, 18)


def test_residual_mode_trains_publishes_and_resumes(tmp_path):
    """In mode 'residual' the trainer learns a bounded correction over the frozen offline policy;
    its weights hot-swap into the policy the node builds from the offline checkpoint; a
    restarted trainer resumes the head; a residual checkpoint refuses the calql mode."""
    from ptr_core import checkpoint as ckpt_io
    from ptr_core.learners.residual import ResidualLearner
    from ptr_core.residual import ResidualPolicy
    ckpt = one_episode_each(tmp_path)
    cfg = OnlineConfig(mode='residual', residual_bound=0.25, residual_samples=3, utd=2.0,
                       publish_every=4, batch_size=16, warmup_episodes=0)
    published = []

    def start():
        return build_trainer(ckpt, tmp_path / 'prior', tmp_path / 'demos', 'OpenDoor',
                             tmp_path / 'online', cfg, checkpoint_dir=tmp_path / 'ckpts',
                             on_weights=lambda v, b: published.append((v, b)),
                             on_event=lambda s: None)
    trainer = start()
    assert isinstance(trainer.agent, ResidualLearner)
    trainer.add_episode(traj('OpenDoor', 20, length=4))
    assert trainer.train() == 8 and [v for v, _ in published] == [1, 2]
    node_policy = ResidualPolicy.from_payload(ckpt_io.load(ckpt), cfg.residual_settings(),
                                              'OpenDoor')
    assert node_policy.load_state_bytes(published[-1][1]) == 2
    head = {k: v.clone() for k, v in trainer.agent.net.head.state_dict().items()}
    again = start()
    assert again.updates == 8 and again.version == 2
    for k, v in again.agent.net.head.state_dict().items():
        assert torch.equal(v, head[k]), k
    with pytest.raises(ValueError, match="a residual run continues only with mode 'residual'"):
        build_trainer(ckpt, tmp_path / 'prior', tmp_path / 'demos', 'OpenDoor',
                      tmp_path / 'online', OnlineConfig(mode='calql', batch_size=16),
                      checkpoint_dir=tmp_path / 'ckpts', on_event=lambda s: None)
