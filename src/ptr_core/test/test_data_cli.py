"""`ptr data`: info numbers against hand computation, show writes a PNG of the right episode,
bad input is one line (from-bags: test_dataset_rosbag.py, beside its bag fixture)."""
import numpy as np
import pytest

from ptr_core.data import DatasetWriter, Trajectory
from ptr_core.data.data_cli import main


def _traj(task, actions, success):
    t = len(actions)
    rewards = np.zeros(t, np.float32)
    rewards[-1] = float(success)
    return Trajectory.from_arrays(np.full((t + 1, 6, 8, 3), 7, np.uint8),
                                  np.zeros((t + 1, 7), np.float32),
                                  np.asarray(actions, np.float32), rewards, rewards > 0,
                                  task=task, success=success)


@pytest.fixture
def dataset(tmp_path):
    with DatasetWriter(tmp_path / 'ds', shard_episodes=2) as w:
        w.add(_traj('Door', [[0.5] * 7, [-0.5] * 7], True))  # 2 steps
        w.add(_traj('Door', [[0.1] * 7] * 4, False))  # 4 steps
        w.add(_traj('Door', [[0.2] * 7] * 3, True))  # 3 steps, in a second shard
        w.add(_traj('Drawer', [[1.0, 0, 0, 0, 0, 0, -1.0]] * 5, True))
    return tmp_path / 'ds'


def test_info_numbers_by_hand(dataset, capsys):
    assert main(['info', str(dataset)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f'{dataset}: 2 tasks, 4 episodes, 14 transitions'
    door = next(line for line in out[3:5] if line.startswith('Door')).split()
    assert door == ['Door', '3', '9', '2/3.0/4', '67%', '6x8x3']
    # Door's actions: 0.5, -0.5, 4 x 0.1, 3 x 0.2 -> mean 1.0 / 9, std by hand
    vals = np.array([0.5, -0.5] + [0.1] * 4 + [0.2] * 3)
    row = next(line for line in out[6:] if line.startswith('Door'))
    assert f'{vals.mean():+.2f} ({vals.std():.2f})' in row
    drawer = next(line for line in out[6:] if line.startswith('Drawer'))
    assert drawer.split()[1:3] == ['+1.00', '(0.00)'] and '-1.00 (0.00)' in drawer


def test_show_writes_a_png_of_the_asked_episode(dataset, tmp_path, capsys):
    out = tmp_path / 'ep.png'
    assert main(['show', str(dataset), '--task', 'Door', '--episode', '2', '--out',
                 str(out)]) == 0
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and out.stat().st_size > 5000
    assert main(['show', str(dataset), '--task', 'Door', '--episode', '3', '--out',
                 str(tmp_path / 'x.png')]) == 1
    assert capsys.readouterr().err.strip().endswith('Door: episode: expected 0..2, got 3')
    assert main(['show', str(dataset), '--task', 'Nope', '--out', str(tmp_path / 'y.png')]) == 1
    err = capsys.readouterr().err.strip()
    assert "task 'Nope' not found" in err and err.count('\n') == 0
    assert not (tmp_path / 'x.png').exists() and not (tmp_path / 'y.png').exists()
    assert main(['info', str(tmp_path / 'missing')]) == 1
    assert 'expected a dataset folder, not found' in capsys.readouterr().err
