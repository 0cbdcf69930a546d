"""`ptr pretrain | finetune | train` end to end on a tiny on-disk dataset."""
import json

import numpy as np
import pytest
import torch

from ptr_core import checkpoint as ckpt
from ptr_core.agent import Agent
from ptr_core.cli import finetune_main, pretrain_main, train_main
from ptr_core.data import DatasetWriter, Trajectory
from ptr_core.policy import DeployablePolicy
from ptr_core.task_registry import TaskRegistry

torch.set_num_threads(1)
TINY_YAML = """preset: ptr_sim_cpu
network: {image_size: 48, encoder: cog_conv, cog_channels: 4, bottleneck_dim: 16,
          q_hidden: [16, 16], policy_hidden: [16], num_tasks: 6}
train: {batch_size: 8, log_every: 1, ckpt_every: 2, steps: 4}
"""


def write_data(root, tasks, episodes=3, length=5, seed=0):
    rng = np.random.default_rng(seed)
    with DatasetWriter(root) as w:
        for task in tasks:
            for e in range(episodes):
                w.add(Trajectory.from_arrays(
                    rng.integers(0, 256, (length + 1, 48, 48, 3), dtype=np.uint8),
                    rng.normal(size=(length + 1, 7)).astype(np.float32),
                    rng.uniform(-0.9, 0.9, (length, 7)).astype(np.float32),
                    task=task, success=bool(e % 2)))
    return root


@pytest.fixture()
def setup(tmp_path):
    cfg = tmp_path / 'tiny.yaml'
    cfg.write_text(TINY_YAML)
    prior = write_data(tmp_path / 'prior', ['PickA', 'PickB'])
    target = write_data(tmp_path / 'target', ['OpenDoor'], seed=1)
    return tmp_path, str(cfg), str(prior), str(target)


def _lines(run):
    return [json.loads(x) for x in (run / 'metrics.jsonl').read_text().splitlines()]


def test_pretrain_then_finetune_then_baselines(setup):
    tmp, cfg, prior, target = setup
    run = tmp / 'pre'
    assert pretrain_main(['--data', prior, '--out', str(run), '--config', cfg,
                          '--no-progress']) == 0
    names = sorted(p.name for p in (run / 'checkpoints').iterdir())
    assert names == ['step_2.pt', 'step_4.pt']
    assert [m['step'] for m in _lines(run)] == [1, 2, 3, 4]
    assert any((run / 'tb').iterdir()) and (run / 'config.yaml').is_file()
    pre = ckpt.load(run / 'checkpoints' / 'step_4.pt')
    reg = TaskRegistry.from_dict(pre['tasks'])
    assert reg.task_names == ['PickA', 'PickB'] and reg.size == 6

    ft = tmp / 'ft'
    assert finetune_main(['--ckpt', str(run / 'checkpoints' / 'step_4.pt'), '--data', prior,
                          '--target', target, '--target-task', 'OpenDoor', '--out', str(ft),
                          '--steps', '3', '--no-progress', '--no-tensorboard']) == 0
    last = ckpt.load(ckpt.latest(ft))
    assert last['step'] == 7 and last['target_task'] == 'OpenDoor'
    assert last['config']['train']['tau'] == 0.9
    # The optimizer continued: Adam's step count includes the pre-training steps.
    adam = last['optimizers']['critic']['state']
    assert int(next(iter(adam.values()))['step']) == 7
    assert TaskRegistry.from_dict(last['tasks']).id('OpenDoor') == 2  # first placeholder
    pol = DeployablePolicy.load(ckpt.latest(ft))
    assert pol.task_id == 2

    bc = tmp / 'bc'
    assert train_main(['--algo', 'bc', '--target', target, '--target-task', 'OpenDoor',
                       '--out', str(bc), '--config', cfg, '--no-progress',
                       '--set', 'network.policy_dropout=0.1', '--no-tensorboard']) == 0
    assert 'bc_loss' in _lines(bc)[-1]
    aw = tmp / 'aw'
    assert train_main(['--algo', 'awbc', '--q-ckpt', str(ckpt.latest(ft)), '--data', prior,
                       '--target', target, '--target-task', 'OpenDoor', '--out', str(aw),
                       '--steps', '2', '--no-progress', '--no-tensorboard']) == 0
    m = _lines(aw)[-1]
    assert 0 < m['awbc_weight'] <= 20.0
    agent = Agent.load(ckpt.latest(aw))
    q = ckpt.load(ckpt.latest(ft))['critic']
    assert all(torch.equal(v, agent.critic.state_dict()[k]) for k, v in q.items())


def test_resume_reproduces_the_run_exactly(setup):
    tmp, cfg, prior, _ = setup
    run = tmp / 'r'
    args = ['--data', prior, '--out', str(run), '--config', cfg, '--no-progress',
            '--no-tensorboard']
    assert pretrain_main(args) == 0
    first = _lines(run)
    (run / 'checkpoints' / 'step_4.pt').unlink()
    assert pretrain_main(args + ['--resume']) == 0
    again = _lines(run)[len(first):]
    assert [m['step'] for m in again] == [3, 4]
    for a, b in zip(first[2:], again):
        a.pop('steps_per_s')
        b.pop('steps_per_s')
        assert a == b


@pytest.mark.parametrize('argv, message', [
    (['--data', '/nonexistent'], '--data /nonexistent: expected a dataset folder'),
    (['--set', 'agent.alfa=1'], "unknown key 'agent.alfa'"),
    (['--tasks', 'Nope'], "task 'Nope' not found"),
    (['--set', 'network.image_size=64'], 'images: expected (64, 64, 3) for network.image_size, '
     'got (48, 48, 3); leave network.image_size unset (it then comes from the data) or give '
     'data at 64 px'),
])
def test_bad_input_is_one_line_and_exit_2(setup, capsys, argv, message):
    tmp, cfg, prior, _ = setup
    base = ['--data', prior, '--out', str(tmp / 'x'), '--config', cfg, '--no-progress']
    assert pretrain_main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith('ptr pretrain:') and '\n' not in err


def test_train_arguments_are_checked(setup, capsys):
    tmp, cfg, prior, target = setup
    assert train_main(['--algo', 'awbc', '--data', prior, '--out', str(tmp / 'y')]) == 2
    assert '--q-ckpt' in capsys.readouterr().err
    assert train_main(['--target', target, '--out', str(tmp / 'y')]) == 2
    assert '--target and --target-task go together' in capsys.readouterr().err


def test_prefetching_thread_yields_the_same_run_as_inline_sampling(setup):
    tmp, cfg, prior, _ = setup
    runs = []
    for prefetch in (0, 3):
        run = tmp / f'p{prefetch}'
        assert pretrain_main(['--data', prior, '--out', str(run), '--config', cfg,
                              '--no-progress', '--no-tensorboard',
                              '--set', f'train.prefetch={prefetch}']) == 0
        lines = _lines(run)
        for m in lines:
            m.pop('steps_per_s')
        runs.append(lines)
    assert runs[0] == runs[1]


@pytest.mark.parametrize('n', [1, 3])
def test_train_reward_last_n_sets_how_many_final_steps_are_rewarded(n):
    """The PTR appendix E ablation (last 3 vs last 1) through the config the commands read."""
    from ptr_core.cli import _reward
    from ptr_core.config import parse_overrides, preset
    from ptr_core.data.rewards import label_trajectory
    from ptr_core.testing import random_episode
    cfg = parse_overrides(preset('ptr_sim_cpu'), [f'train.reward_last_n={n}'])
    lab = label_trajectory(random_episode('T', 0, length=6, success=True),
                           _reward('last_n', cfg))
    assert lab.reward.tolist() == [-1.0] * (6 - n) + [10.0] * n  # r * 11 - 1
    assert lab.terminal.tolist() == [False] * (6 - n) + [True] * n


def test_a_fresh_agent_takes_its_image_size_from_the_data(setup, capsys):
    """No network.image_size in the config (the preset says 64), 48 px demos: `ptr train`
    trains at 48 and says so; a fine-tuning whose checkpoint fixes 48 px refuses 32 px data,
    naming the checkpoint and the flag that makes data at its size."""
    tmp, _, _, target = setup
    cfg = tmp / 'no_size.yaml'
    cfg.write_text(TINY_YAML.replace('image_size: 48, ', ''))
    run = tmp / 'bc'
    assert train_main(['--algo', 'bc', '--target', target, '--target-task', 'OpenDoor',
                       '--out', str(run), '--config', str(cfg), '--no-progress',
                       '--no-tensorboard']) == 0
    assert 'ptr train: network.image_size 64 -> 48 (the images of --target; --set ' \
           'network.image_size=N chooses)' in capsys.readouterr().err
    saved = ckpt.latest(run)
    assert ckpt.load(saved)['config']['network']['image_size'] == 48
    small = tmp / 'small'
    rng = np.random.default_rng(2)
    with DatasetWriter(small) as w:
        w.add(Trajectory.from_arrays(rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
                                     rng.normal(size=(6, 7)).astype(np.float32),
                                     rng.uniform(-0.9, 0.9, (5, 7)).astype(np.float32),
                                     task='OpenDoor', success=True))
    assert finetune_main(['--ckpt', str(saved), '--target', str(small), '--target-task',
                          'OpenDoor', '--out', str(tmp / 'ft'), '--no-progress']) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f'ptr finetune: --target: images: expected (48, 48, 3) for '
                   f'network.image_size, got (32, 32, 3); --ckpt {saved} was trained at 48 px: '
                   f'give data at 48 px (ptr collect --image-size 48)'), err
