"""Bridge loaders on synthetic trees written the way Bridge lays its data out."""
import pickle

import cv2
import numpy as np
import pytest

from ptr_core.constants import ACTION_HIGH, ACTION_LOW
from ptr_core.data import Dataset
from ptr_core.data.bridge import (
    BridgeError,
    convert_bridge,
    find_numpy,
    find_raw,
    load_numpy,
    load_raw,
    main,
)


def _actions(rng, t):
    return [rng.uniform(ACTION_LOW, ACTION_HIGH).astype(np.float32) for _ in range(t)]


def _np_traj(rng, t):
    frames = rng.integers(0, 256, (t + 1, 128, 128, 3), dtype=np.uint8)
    states = rng.normal(size=(t + 1, 7)).astype(np.float32)
    obs = [{'images0': frames[i], 'state': states[i]} for i in range(t + 1)]
    terminals = np.zeros(t)
    terminals[-1] = 1
    return {'observations': obs[:-1], 'next_observations': obs[1:], 'actions': _actions(rng, t),
            'terminals': terminals}, frames, states


def _save(path, trajs):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.array(trajs, dtype=object), allow_pickle=True)


@pytest.fixture
def numpy_tree(tmp_path):
    rng = np.random.default_rng(0)
    made = {}
    for rel, lengths in [('tk1/put_corn_in_pot/train', [3, 4]), ('tk1/put_corn_in_pot/val', [2]),
                         ('tk2/open microwave/train', [5])]:
        items = [_np_traj(rng, t) for t in lengths]
        _save(tmp_path / 'bridge' / rel / 'out.npy', [d for d, _, _ in items])
        made[rel] = items
    return tmp_path / 'bridge', made


def test_numpy_format_values_shapes_names(numpy_tree):
    root, made = numpy_tree
    srcs = find_numpy(root)
    assert [(s.task, s.split, s.domain) for s in srcs] == [
        ('put_corn_in_pot', 'train', 'tk1'), ('put_corn_in_pot', 'val', 'tk1'),
        ('open_microwave', 'train', 'tk2')]
    trajs = list(load_numpy(root))
    assert [len(t) for t in trajs] == [3, 4, 2, 5]
    d, frames, states = made['tk1/put_corn_in_pot/train'][1]
    tr = trajs[1]
    np.testing.assert_array_equal(tr.images, frames)  # T observations + the last next one
    np.testing.assert_array_equal(tr.states, states)
    want = 2.0 * (np.stack(d['actions']) - ACTION_LOW) / (ACTION_HIGH - ACTION_LOW) - 1.0
    np.testing.assert_allclose(tr.actions, np.clip(want, -0.99, 0.99), atol=1e-6)
    assert tr.terminals.tolist() == [False, False, False, True] and tr.success
    assert tr.meta['split'] == 'train' and trajs[2].meta['split'] == 'val'
    assert [t.meta['split'] for t in load_numpy(root, split='val')] == ['val']


def test_numpy_resize_is_area_average(numpy_tree):
    root, made = numpy_tree
    tr = next(load_numpy(root, image_size=64))
    frames = made['tk1/put_corn_in_pot/train'][0][1]
    # independent reference: a 2x area downscale is the mean of each 2x2 block
    ref = frames.reshape(4, 64, 2, 64, 2, 3).astype(np.float64).mean(axis=(2, 4))
    assert tr.images.shape == (4, 64, 64, 3)
    assert np.abs(tr.images - ref).max() <= 0.5 + 1e-9


def test_numpy_bad_input_names_file_and_field(tmp_path):
    rng = np.random.default_rng(1)
    d, _, _ = _np_traj(rng, 2)
    del d['observations'][1]['state']
    _save(tmp_path / 'b' / 'x' / 'train' / 'out.npy', [d])
    with pytest.raises(BridgeError, match=r"out.npy trajectory 0 observations\[1\]: missing "
                                          r"field 'state'"):
        list(load_numpy(tmp_path / 'b'))
    assert main([str(tmp_path / 'b'), str(tmp_path / 'out')]) == 1


def _raw_traj(folder, t, rgb, rng):
    (folder / 'images0').mkdir(parents=True)
    for i in range(t + 1):
        img = np.zeros((128, 128, 3), np.uint8)
        img[:] = rgb
        img[:, :8] = (i * 20) % 256  # a band that changes per step
        cv2.imwrite(str(folder / 'images0' / f'im_{i}.jpg'), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    states = rng.normal(size=(t + 1, 7)).astype(np.float32)
    acts = _actions(rng, t)
    with open(folder / 'obs_dict.pkl', 'wb') as f:
        pickle.dump({'state': states, 'qpos': np.zeros((t + 1, 6))}, f)
    with open(folder / 'policy_out.pkl', 'wb') as f:
        pickle.dump([{'actions': a, 'policy_type': 'VRTeleopPolicy'} for a in acts], f)
    return states, acts


def test_raw_format_and_conversion(tmp_path, numpy_tree):
    rng = np.random.default_rng(2)
    root = tmp_path / 'rawroot'
    base = root / 'tk1' / 'put_corn_in_pot' / '2021-06-21_14-31-52' / 'raw' / 'traj_group0'
    s0, a0 = _raw_traj(base / 'traj0', 3, (200, 30, 30), rng)
    _raw_traj(base / 'traj1', 2, (20, 200, 30), rng)
    _raw_traj(root / 'tk2' / 'wipe' / 'raw' / 'traj_group0' / 'traj0', 4, (20, 30, 200), rng)
    assert [(s.task, s.domain) for s in find_raw(root)] == [
        ('put_corn_in_pot', 'tk1'), ('put_corn_in_pot', 'tk1'), ('wipe', 'tk2')]
    trajs = list(load_raw(root, image_size=48))
    tr = trajs[0]
    assert tr.images.shape == (4, 48, 48, 3) and len(tr) == 3
    center = tr.images[:, 24, 30].astype(int)  # away from the band: the RGB color, not BGR
    assert np.abs(center - [200, 30, 30]).max() <= 3
    assert np.abs(trajs[2].images[0, 24, 30].astype(int) - [20, 30, 200]).max() <= 3
    np.testing.assert_array_equal(tr.states, s0)
    want = 2.0 * (np.stack(a0) - ACTION_LOW) / (ACTION_HIGH - ACTION_LOW) - 1.0
    np.testing.assert_allclose(tr.actions, np.clip(want, -0.99, 0.99), atol=1e-6)
    # conversion writes our format; Bridge's own split survives it
    assert convert_bridge(root, tmp_path / 'ds_raw', 48, progress=False) == 3
    assert Dataset(tmp_path / 'ds_raw').tasks == ['put_corn_in_pot', 'wipe']
    np_root, _ = numpy_tree
    assert main([str(np_root), str(tmp_path / 'ds'), '--image-size', '32']) == 0
    ds = Dataset(tmp_path / 'ds')
    td = ds['put_corn_in_pot']
    assert len(td) == 3 and td.image_shape == (32, 32, 3)
    assert td.split_indices('val') == [2] and td.split_indices('train') == [0, 1]
    assert [len(td.trajectory(i)) for i in range(3)] == [3, 4, 2]


def test_real_layouts_name_tasks_by_the_task_folder_not_the_collection(tmp_path, capsys):
    """Bridge's trees carry a collection level (00, 01, ...) under the task folder, and the raw
    tree a date under that: tasks are named by the task folder, collections of one task merge,
    and two different tasks are never merged under '00'."""
    rng = np.random.default_rng(3)
    np_root = tmp_path / 'bridge_np'
    for rel, t in [('berkeley/toykitchen2/set_table/00/train', 2),
                   ('berkeley/toykitchen2/set_table/01/train', 3),
                   ('berkeley/toykitchen2/set_table/00/val', 2),
                   ('berkeley/toykitchen2/put_corn_in_pot/00/train', 4),
                   ('berkeley/toykitchen1/set_table/00/train', 5)]:
        _save(np_root / rel / 'out.npy', [_np_traj(rng, t)[0]])
    srcs = find_numpy(np_root)
    assert [(s.task, s.domain, s.collection, s.split) for s in srcs] == [
        ('set_table', 'berkeley/toykitchen1', '00', 'train'),
        ('put_corn_in_pot', 'berkeley/toykitchen2', '00', 'train'),
        ('set_table', 'berkeley/toykitchen2', '00', 'train'),
        ('set_table', 'berkeley/toykitchen2', '00', 'val'),
        ('set_table', 'berkeley/toykitchen2', '01', 'train')]
    assert [s.task for s in find_numpy(np_root, domain_prefix=True)] == [
        'toykitchen1.set_table', 'toykitchen2.put_corn_in_pot', 'toykitchen2.set_table',
        'toykitchen2.set_table', 'toykitchen2.set_table']
    assert main([str(np_root), str(tmp_path / 'ds'), '--image-size', '16',
                 '--domain-prefix']) == 0
    out = capsys.readouterr().out.splitlines()
    # the table comes before anything is written, one row per task
    assert out[1].split() == ['task', 'train', 'val', 'collections', 'domains']
    assert out[2].split() == ['toykitchen1.set_table', '1', '0', '00', 'berkeley/toykitchen1']
    assert out[4].split() == ['toykitchen2.set_table', '2', '1', '00,01', 'berkeley/toykitchen2']
    ds = Dataset(tmp_path / 'ds')
    assert ds.tasks == ['toykitchen1.set_table', 'toykitchen2.put_corn_in_pot',
                        'toykitchen2.set_table']
    assert sorted(len(t) for t in ds['toykitchen2.set_table']) == [2, 2, 3]
    assert [len(t) for t in ds['toykitchen1.set_table']] == [5]

    raw_root = tmp_path / 'bridge_raw'
    for task, coll, date in [('put_corn_in_pot', '00', '2021-06-07_14-20-59'),
                             ('put_corn_in_pot', '01', '2021-07-01_10-00-00'),
                             ('wipe_table', '00', '2021-06-08_09-00-00')]:
        group = raw_root / 'berkeley' / 'toykitchen1' / task / coll / date / 'raw' / 'traj_group0'
        _raw_traj(group / 'traj0', 2, (10, 20, 30), rng)
    assert [(s.task, s.collection) for s in find_raw(raw_root)] == [
        ('put_corn_in_pot', '00'), ('put_corn_in_pot', '01'), ('wipe_table', '00')]
    assert convert_bridge(raw_root, tmp_path / 'ds_raw', 16, progress=False, say=lambda s: None) \
        == 3
    assert Dataset(tmp_path / 'ds_raw').tasks == ['put_corn_in_pot', 'wipe_table']
