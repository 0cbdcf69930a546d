"""`ptr train-reward` end to end on a small on-disk dataset and on label folders."""
import numpy as np
import pytest
import torch

from ptr_core.data import DatasetWriter, Trajectory
from ptr_reward.classifier import load_classifier
from ptr_reward.train_reward import frames_from_dataset, main

torch.set_num_threads(1)


def door_episode(rng, length, success, size=32):
    """Frames darken to 0 while 'closed'; the final frame of a success shows a bright block."""
    imgs = rng.integers(0, 100, (length + 1, size, size, 3), dtype=np.uint8)
    rewards = np.zeros(length, np.float32)
    if success:
        imgs[-1, 4:20, 4:12, 1] = 255
        rewards[-1] = 1.0
    return Trajectory.from_arrays(imgs, np.zeros((length + 1, 7)), np.zeros((length, 7)),
                                  rewards, rewards > 0, task='OpenDoor', success=success)


@pytest.fixture()
def door_data(tmp_path):
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / 'data', shard_episodes=8) as w:
        for i in range(30):
            w.add(door_episode(rng, 5, success=i % 2 == 0))
    return tmp_path / 'data'


def test_labels_follow_recorded_next_state_success(door_data):
    imgs, labels, groups = frames_from_dataset(door_data, 'OpenDoor')
    assert imgs.shape == (30 * 5, 32, 32, 3)
    assert labels.sum() == 15  # one success frame per successful episode
    # The labeled positive is the frame after the rewarded transition: the bright one.
    assert np.all(imgs[labels == 1][:, 4:20, 4:12, 1] == 255)
    assert set(groups[labels == 1]) == set(range(0, 30, 2))


def test_cli_trains_and_writes_checkpoint(door_data, tmp_path, capsys):
    out = tmp_path / 'clf.pt'
    code = main(['--data', str(door_data), '--task', 'OpenDoor', '--out', str(out),
                 '--image-size', '32', '--steps', '60', '--batch-size', '32', '--lr', '3e-3'])
    assert code == 0
    printed = capsys.readouterr().out
    assert 'val' in printed and '15 success' in printed
    model = load_classifier(out)
    rng = np.random.default_rng(5)
    ok = door_episode(rng, 3, True).images[-1]
    bad = door_episode(rng, 3, False).images[-1]
    p = model.predict_proba(np.stack([ok, bad]))
    assert p[0] > 0.5 > p[1]


def test_cli_folders_mode(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(1)
    for label, bright in (('success', True), ('failure', False)):
        (tmp_path / 'f' / label).mkdir(parents=True)
        for i in range(12):
            img = rng.integers(0, 100, (40, 40, 3), dtype=np.uint8)
            if bright:
                img[5:25, 5:15, 2] = 255
            Image.fromarray(img).save(tmp_path / 'f' / label / f'{i}.png')
    out = tmp_path / 'clf.pt'
    assert main(['--folders', str(tmp_path / 'f'), '--out', str(out), '--image-size', '32',
                 '--steps', '40', '--batch-size', '16', '--lr', '3e-3']) == 0
    assert load_classifier(out).cfg.image_size == 32


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / 'f' / 'maybe').mkdir(parents=True)
    assert main(['--folders', str(tmp_path / 'f'), '--out', str(tmp_path / 'c.pt')]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'maybe' in err
    assert main(['--data', str(tmp_path / 'nope'), '--task', 'X',
                 '--out', str(tmp_path / 'c.pt')]) == 2
