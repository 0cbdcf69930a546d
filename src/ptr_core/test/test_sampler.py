"""Transition storage and batch mixing."""
import numpy as np
import pytest
import torch

from ptr_core.data import Dataset, DatasetWriter, Trajectory
from ptr_core.data.rewards import RewardConfig
from ptr_core.data.sampler import (
    PTR_FINETUNE_FRACTIONS,
    MixedSampler,
    ShardedImages,
    TransitionBuffer,
    mix_counts,
)
from ptr_core.online_config import ONLINE_FRACTIONS
from ptr_core.task_registry import TaskRegistry


def _traj(task, t, seed, size=6):
    rng = np.random.default_rng(seed)
    return Trajectory.from_arrays(
        rng.integers(0, 256, (t + 1, size, size, 3)), rng.normal(size=(t + 1, 7)),
        rng.uniform(-1, 1, (t, 7)), task=task, success=True)


def _check_transitions(buf, trajs, reg, idx):
    """Independent reference: walk the trajectories to find transition k."""
    flat = [(tr, t) for tr in trajs for t in range(len(tr))]
    got = buf.gather(idx)
    for row, k in enumerate(idx):
        tr, t = flat[k]
        np.testing.assert_array_equal(got['image'][row], tr.images[t])
        np.testing.assert_array_equal(got['next_image'][row], tr.images[t + 1])
        np.testing.assert_array_equal(got['state'][row], tr.states[t])
        np.testing.assert_array_equal(got['next_state'][row], tr.states[t + 1])
        np.testing.assert_array_equal(got['action'][row], tr.actions[t])
        assert got['task'][row] == reg.id(tr.task)
        from_end = len(tr) - t
        assert got['reward'][row] == (10.0 if from_end <= 3 else -1.0)
        assert got['terminal'][row] == float(from_end <= 3)


def test_buffer_indexes_shared_observations():
    reg = TaskRegistry.create(['A', 'B'])
    trajs = [_traj('A', 5, 0), _traj('B', 7, 1), _traj('A', 4, 2)]
    buf = TransitionBuffer.from_trajectories(trajs, reg, RewardConfig())
    assert len(buf) == 16 and buf._obs['image'].shape[0] == 19  # T+1 images per trajectory
    _check_transitions(buf, trajs, reg, np.array([0, 4, 5, 11, 12, 15, 3, 3]))


def test_memory_mapped_buffer_matches_and_keeps_split(tmp_path):
    reg = TaskRegistry.create(['A', 'B'])
    trajs = {'A': [_traj('A', 3 + i % 4, i) for i in range(12)], 'B': [_traj('B', 5, 99)]}
    with DatasetWriter(tmp_path, shard_episodes=5) as w:
        for tr in trajs['A'] + trajs['B']:
            w.add(tr)
    ds = Dataset(tmp_path)
    buf = TransitionBuffer.from_dataset(ds, reg, RewardConfig(), split='train')
    train_a = [trajs['A'][i] for i in ds['A'].split_indices('train')]
    ref = train_a + trajs['B']
    assert len(buf) == sum(len(t) for t in ref)
    assert isinstance(buf._images, ShardedImages) and len(buf._images.arrays) == 4
    _check_transitions(buf, ref, reg, np.random.default_rng(0).integers(0, len(buf), 40))
    val = TransitionBuffer.from_dataset(ds, reg, tasks=['A'], split='val')
    assert len(val) == len(trajs['A'][9])


def test_mix_counts_exact():
    assert mix_counts([0.9, 0.1], 64) == [57, 7]  # PTR: floor(B * tau) from the prior
    assert mix_counts([0.7, 0.3], 64) == [44, 20]
    assert mix_counts([0.35, 0.15, 0.5], 64) == [22, 10, 32]
    assert mix_counts(PTR_FINETUNE_FRACTIONS, 64) == [57, 7]
    assert mix_counts(ONLINE_FRACTIONS, 64) == [22, 10, 32]
    assert mix_counts([1.0], 64) == [64]
    rng = np.random.default_rng(0)
    for _ in range(200):
        f = rng.dirichlet(np.ones(3))
        b = int(rng.integers(1, 300))
        c = mix_counts(f, b)
        assert sum(c) == b and all(abs(ci - b * fi) < 1.0 + 1e-9 for ci, fi in zip(c, f))
    with pytest.raises(ValueError, match='summing to 1'):
        mix_counts([0.5, 0.4], 64)


def test_mixed_sampler_batch_contract_and_proportions():
    reg = TaskRegistry.create(['P', 'T', 'O'])
    srcs = [TransitionBuffer.from_trajectories([_traj(n, 6, i)], reg) for i, n in
            enumerate(['P', 'T', 'O'])]
    sampler = MixedSampler(srcs, [0.35, 0.15, 0.5], 64, seed=1)
    batch = sampler.sample()
    assert batch['image'].shape == (64, 3, 6, 6) and batch['image'].dtype == torch.uint8
    assert batch['next_image'].shape == (64, 3, 6, 6)
    for k in ('state', 'next_state', 'action'):
        assert batch[k].shape == (64, 7) and batch[k].dtype == torch.float32
    for k in ('reward', 'terminal', 'mc_return'):
        assert batch[k].shape == (64,) and batch[k].dtype == torch.float32
    assert batch['task'].dtype == torch.int64
    assert torch.bincount(batch['task'], minlength=3).tolist() == [22, 10, 32]
    # the image tensor is the HWC sample seen as CHW
    np_batch = MixedSampler(srcs, [0.35, 0.15, 0.5], 64, seed=1).sample_numpy()
    assert torch.equal(batch['image'], torch.from_numpy(np_batch['image']).permute(0, 3, 1, 2))
    two = MixedSampler(srcs[:2], [0.9, 0.1], 64, seed=0).sample()
    assert torch.bincount(two['task'], minlength=2).tolist() == [57, 7]


def test_sampler_errors_and_growth():
    reg = TaskRegistry.create(['A'])
    buf = TransitionBuffer.from_trajectories([], reg)
    with pytest.raises(ValueError, match='source 1 is empty'):
        MixedSampler([TransitionBuffer.from_trajectories([_traj('A', 3, 0)], reg), buf],
                     [0.5, 0.5], 8).sample()
    trajs = [_traj('A', 3, i) for i in range(20)]
    for tr in trajs:
        buf.extend([tr], reg)
    assert len(buf) == 60 and buf.num_trajectories == 20
    _check_transitions(buf, trajs, reg, np.array([0, 59, 31]))
    with pytest.raises(ValueError, match='images: expected shape'):
        buf.extend([_traj('A', 3, 0, size=8)], reg)


def test_online_buffer_persists_and_sees_other_writers(tmp_path):
    from ptr_core.data.online_buffer import OnlineBuffer

    reg = TaskRegistry.create(['T'])
    ob = OnlineBuffer(tmp_path, reg, RewardConfig.recorded())
    assert len(ob) == 0
    rec = np.array([0, 0, 1], np.float32)
    ep = Trajectory.from_arrays(_traj('T', 3, 0).images, _traj('T', 3, 0).states,
                                _traj('T', 3, 0).actions, rec, rec > 0, task='T', success=True)
    new = ob.append(ep)
    assert len(new) == 1 and new[0].shard.parent == tmp_path / 'T' and len(new[0].episode) == 3
    assert new[0].episode.success and new[0].episode.rewards.tolist() == [0, 0, 1]
    ob.append(_traj('T', 4, 1))
    assert len(ob) == 7 and ob.num_episodes == 2 and ob.returns == [1.0, 0.0]
    # another process (a second writer) adds an episode; refresh picks it up once
    with DatasetWriter(tmp_path, shard_episodes=1, prefix='other') as w:
        w.add(_traj('T', 2, 2))
    assert len(ob.refresh()) == 1 and ob.refresh() == [] and len(ob) == 9
    # a restart restores everything from disk, in the same order per shard name
    again = OnlineBuffer(tmp_path, reg, RewardConfig.recorded())
    assert len(again) == 9
    got = again.gather(np.arange(9))
    assert got['reward'].tolist().count(1.0) == 1
    with pytest.raises(ValueError, match='images: expected shape'):
        again.append(_traj('T', 2, 3, size=8))
    with pytest.raises(KeyError, match='Nope'):
        again.append(_traj('Nope', 2, 3))
    assert len(list((tmp_path / 'T').iterdir())) == 3  # nothing written by the failed appends
    sampler = MixedSampler([again], [1.0], 16, seed=0)
    assert sampler.sample()['image'].shape == (16, 3, 6, 6)


def test_online_buffer_skips_a_bad_shard_once_and_can_leave_old_ones_to_refresh(tmp_path):
    from ptr_core.data.online_buffer import OnlineBuffer

    reg = TaskRegistry.create(['T'])
    with DatasetWriter(tmp_path, shard_episodes=1, prefix='robot') as w:
        w.add(_traj('T', 3, 0))
        w.add(_traj('Nope', 2, 1))  # a writer configured with a task the learner does not know
        w.add(_traj('T', 2, 2, size=8))  # ... or another camera size
    ob = OnlineBuffer(tmp_path, reg, RewardConfig.recorded(), load_existing=False)
    assert len(ob) == 0 and ob.rejected == []
    loaded = ob.refresh()
    assert [len(x.episode) for x in loaded] == [3] and len(ob) == 3
    assert len(ob.rejected) == 2
    assert 'Nope' in ob.rejected[0] and 'images: expected shape (6, 6, 3), got (8, 8, 3)' \
        in ob.rejected[1]
    assert ob.refresh() == [] and len(ob.rejected) == 2  # said once, not at every refresh


def test_task_ids_from_mapping_or_list():
    trajs = [_traj('A', 2, 0), _traj('B', 3, 1)]
    by_map = TransitionBuffer.from_trajectories(trajs, {'A': 4, 'B': 2})
    by_list = TransitionBuffer.from_trajectories(trajs, [7, 1])
    assert by_map.field('task').tolist() == [4, 4, 2, 2, 2]
    assert by_list.field('task').tolist() == [7, 7, 1, 1, 1]
    with pytest.raises(KeyError, match="task 'B'"):
        TransitionBuffer.from_trajectories(trajs, {'A': 0})


def test_memory_mapped_buffer_rejects_mixed_image_sizes(tmp_path):
    with DatasetWriter(tmp_path) as w:
        w.add(_traj('A', 3, 0, size=6))
        w.add(_traj('B', 3, 1, size=8))
    reg = TaskRegistry.create(['A', 'B'])
    with pytest.raises(ValueError, match=r'B/shard-000000: images: expected shape \(6, 6, 3\)'):
        TransitionBuffer.from_dataset(Dataset(tmp_path), reg)
    with pytest.raises(ValueError, match='name -> id mapping'):
        TransitionBuffer.from_dataset(Dataset(tmp_path), [0, 1])
    assert TransitionBuffer.from_dataset(Dataset(tmp_path), reg, tasks=['B']).image_shape == (
        8, 8, 3)
    assert TransitionBuffer().image_shape == ()


def test_sampler_applies_augmentation_to_images_only():
    from ptr_core.data.augment import Augment

    reg = TaskRegistry.create(['A'])
    buf = TransitionBuffer.from_trajectories([_traj('A', 8, i, size=16) for i in range(3)], reg)
    plain = MixedSampler([buf], [1.0], 32, seed=4).sample()
    aug = MixedSampler([buf], [1.0], 32, augment=Augment(seed=1), seed=4).sample()
    assert aug['image'].dtype == torch.uint8 and aug['image'].shape == (32, 3, 16, 16)
    assert not torch.equal(aug['image'], plain['image'])
    assert not torch.equal(aug['next_image'], plain['next_image'])
    for k in ('state', 'next_state', 'action', 'reward', 'terminal', 'task', 'mc_return'):
        assert torch.equal(aug[k], plain[k])


def test_online_buffer_loads_more_shards_than_open_files_allowed(tmp_path):
    """A trainer restarting on thousands of stored episodes: loading must not keep each shard's
    memory-mapped files open (5 per shard). 300 shards under a limit of 256 open files."""
    import subprocess
    import sys
    with DatasetWriter(tmp_path, shard_episodes=1, prefix='r') as w:
        for i in range(300):
            w.add(_traj('T', 2, i, size=4))
    code = (
        'import resource, sys\n'
        'resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit('
        'resource.RLIMIT_NOFILE)[1]))\n'
        'from ptr_core.data.online_buffer import OnlineBuffer\n'
        'from ptr_core.task_registry import TaskRegistry\n'
        f'buf = OnlineBuffer({str(tmp_path)!r}, TaskRegistry.create(["T"]), '
        'load_existing=False)\n'
        'loaded = buf.refresh()\n'
        'print(len(loaded), len(buf), len(buf.rejected))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ['300', '600', '0']
