"""Dataset format: write -> read round trip, shards, splits, and one-line errors."""
import json

import numpy as np
import pytest

from ptr_core.data import Dataset, DatasetError, DatasetWriter, Trajectory


def _traj(task, t, seed, size=8, success=True):
    rng = np.random.default_rng(seed)
    return Trajectory.from_arrays(
        rng.integers(0, 256, (t + 1, size, size, 3)), rng.normal(size=(t + 1, 7)),
        rng.uniform(-1, 1, (t, 7)), rng.integers(0, 2, t), rng.integers(0, 2, t), task=task,
        success=success, meta={'seed': seed})


def _same(a: Trajectory, b: Trajectory):
    for name in ('images', 'states', 'actions', 'rewards', 'terminals'):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert getattr(a, name).dtype == getattr(b, name).dtype
    assert (a.task, a.success, a.meta) == (b.task, b.success, b.meta)


def test_round_trip_across_shards_and_writers(tmp_path):
    trajs = [_traj('A', 3 + i, i, success=i % 2 == 0) for i in range(5)] + [_traj('B', 4, 9)]
    with DatasetWriter(tmp_path, shard_episodes=2) as w:
        for tr in trajs:
            w.add(tr)
    with DatasetWriter(tmp_path, shard_episodes=2, prefix='w1') as w:
        w.add(_traj('B', 2, 10))
    ds = Dataset(tmp_path)
    assert ds.tasks == ['A', 'B']
    assert len(list((tmp_path / 'A').glob('shard-*'))) == 3  # 2 + 2 + 1
    assert len(ds['A']) == 5 and len(ds['B']) == 2
    for i in range(5):
        _same(ds['A'].trajectory(i), trajs[i])
    _same(ds['B'].trajectory(0), trajs[5])
    assert ds.num_transitions == sum(len(t) for t in trajs) + 2
    assert ds['A'].image_shape == (8, 8, 3)


def test_split_is_disjoint_and_deterministic(tmp_path):
    with DatasetWriter(tmp_path, shard_episodes=64) as w:
        for i in range(20):
            w.add(_traj('A', 2, i))
    td = Dataset(tmp_path)['A']
    train, val = td.split_indices('train'), td.split_indices('val')
    assert val == [9, 19] and sorted(train + val) == list(range(20))
    assert len(list(Dataset(tmp_path).trajectories(split='val'))) == 2


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match='expected a dataset folder'):
        Dataset(tmp_path / 'missing')
    with DatasetWriter(tmp_path) as w:
        w.add(_traj('A', 2, 0))
    index = next((tmp_path / 'A').glob('shard-*')) / 'index.json'
    doc = json.loads(index.read_text())
    doc['format'] = 'other/0'
    index.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match='format'):
        Dataset(tmp_path)
    with pytest.raises(ValueError, match='actions: expected shape'):
        Trajectory.from_arrays(np.zeros((3, 4, 4, 3)), np.zeros((3, 7)), np.zeros((2, 6)),
                               task='A')


def test_task_dataset_can_open_a_subset_of_shards(tmp_path):
    from ptr_core.data import TaskDataset

    trajs = [_traj('A', 2 + i, i) for i in range(5)]
    with DatasetWriter(tmp_path, shard_episodes=2) as w:
        for tr in trajs:
            w.add(tr)
    shards = sorted((tmp_path / 'A').glob('shard-*'))
    td = TaskDataset(tmp_path / 'A', only=shards[1:])
    assert td.shard_dirs == shards[1:] and len(td) == 3
    _same(td.trajectory(0), trajs[2])
    _same(td.trajectory(2), trajs[4])
