"""`ptr collect` round trip through the dataset format, `ptr tasks`, and the bad-input path."""
import numpy as np
import pytest

import ptr_sim
from ptr_core.data import Dataset
from ptr_sim import cli, collect
from ptr_sim.scripted import make_scripted_policy
from ptr_sim.tasks import TASKS


def _replay(task, seed, noise, size):
    """Re-run one episode independently of the collector (same seed -> same episode)."""
    env = ptr_sim.make_env(task, image_size=size)
    try:
        policy = make_scripted_policy(task, env, noise, np.random.default_rng(seed))
        return collect.rollout(env, policy, task, seed, noise)
    finally:
        env.close()


@pytest.mark.slow
def test_collect_round_trip_with_workers(tmp_path, capsys):
    out = tmp_path / 'data'
    rc = collect.main(['--task', 'OpenDoor', '--episodes', '3', '--out', str(out),
                       '--image-size', '48', '--workers', '2', '--seed', '5', '--noise', '0.2'])
    assert rc == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    fields = dict(kv.split('=') for kv in last.split())
    assert list(fields) == ['task', 'episodes', 'success_rate', 'steps_per_s']
    assert fields['task'] == 'OpenDoor' and fields['episodes'] == '3'
    ds = Dataset(out)
    assert ds.tasks == ['OpenDoor']
    td = ds['OpenDoor']
    assert len(td) == 3 and td.image_shape == (48, 48, 3)
    seeds = sorted(td.trajectory(i).meta['seed'] for i in range(3))
    assert seeds == [5, 6, 7]  # worker w, attempt k -> seed + w + workers * k
    successes = 0
    for i in range(3):
        got = td.trajectory(i)
        assert got.meta['scripted'] is True and got.meta['noise'] == 0.2
        want = _replay('OpenDoor', got.meta['seed'], 0.2, 48)
        for name in ('images', 'states', 'actions', 'rewards', 'terminals'):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
        # Rewards as recorded: 1.0 exactly where the next state succeeds; success ends the episode.
        assert got.rewards.sum() == float(got.success) == got.terminals.sum()
        if got.success:
            assert got.rewards[-1] == 1.0 and got.terminals[-1]
        successes += got.success
    assert float(fields['success_rate']) == pytest.approx(successes / 3, abs=1e-3)


@pytest.mark.slow
def test_successes_only_keeps_only_successes(tmp_path, capsys):
    out = tmp_path / 'demos'
    rc = collect.main(['--task', 'CloseDoor', '--episodes', '2', '--out', str(out),
                       '--image-size', '48', '--successes-only', '--noise', '0.3'])
    assert rc == 0
    td = Dataset(out)['CloseDoor']
    assert len(td) == 2 and all(td.trajectory(i).success for i in range(2))
    fields = dict(kv.split('=') for kv in capsys.readouterr().out.strip().split('\n')[-1].split())
    assert fields['episodes'] == '2' and 0 < float(fields['success_rate']) <= 1


@pytest.mark.parametrize('argv, needle', [
    (['--task', 'NoSuchTask', '--episodes', '2'], '--task: expected one of'),
    (['--task', 'OpenDoor', '--episodes', '0'], '--episodes: expected >= 1, got 0'),
    (['--task', 'OpenDoor', '--episodes', '2', '--image-size', '50'],
     '--image-size: expected one of (48, 64, 128), got 50'),
    (['--task', 'OpenDoor', '--episodes', '2', '--noise', '-1'], '--noise: expected'),
    (['--task', 'OpenDoor', '--episodes', '2', '--workers', '0'], '--workers: expected >= 1'),
])
def test_bad_input_is_one_line_nonzero_and_writes_nothing(tmp_path, capsys, argv, needle):
    out = tmp_path / 'never'
    rc = collect.main(argv + ['--out', str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert not out.exists()


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / 'file'
    f.write_text('x')
    rc = collect.main(['--task', 'OpenDoor', '--episodes', '1', '--out', str(f)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and 'expected a folder' in err[0]
    assert f.read_text() == 'x'


def test_adding_a_different_image_size_to_a_task_is_refused(tmp_path, capsys):
    out = tmp_path / 'data'
    assert collect.main(['--task', 'CloseDrawer', '--episodes', '1', '--out', str(out),
                         '--image-size', '48']) == 0
    before = sorted(p.name for p in (out / 'CloseDrawer').iterdir())
    capsys.readouterr()
    rc = collect.main(['--task', 'CloseDrawer', '--episodes', '1', '--out', str(out),
                       '--image-size', '64'])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and 'holds 48x48 images' in err[0]
    assert sorted(p.name for p in (out / 'CloseDrawer').iterdir()) == before


def test_tasks_lists_the_registry(capsys):
    assert cli.tasks_main([]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ['name', 'index', 'kitchen', 'horizon', 'kind']
    rows = [ln.split() for ln in lines[1:]]
    assert [r[0] for r in rows] == list(TASKS)
    assert [int(r[1]) for r in rows] == list(range(len(TASKS)))
    assert all(int(r[3]) == TASKS[r[0]].horizon for r in rows)


@pytest.mark.slow
def test_a_crashed_worker_fails_the_run_instead_of_hanging(tmp_path, capsys, monkeypatch):
    # A worker that dies without a word (a segfault sends no message) must end the run.
    monkeypatch.setattr(collect, '_worker_main', _crash)
    rc = collect.main(['--task', 'OpenDoor', '--episodes', '2', '--out', str(tmp_path / 'd'),
                       '--image-size', '48', '--workers', '2'])
    assert rc == 1
    assert 'died (exit code 3)' in capsys.readouterr().err


def _crash(args, queue):
    import os
    os._exit(3)
