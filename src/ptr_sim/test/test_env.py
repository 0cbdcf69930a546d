"""The gymnasium contract of every task, determinism, image sizes and the camera pose."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import ptr_sim
from ptr_sim import CameraConfig
from ptr_sim.tasks import TASKS


@pytest.mark.parametrize('task', list(TASKS))
def test_env_checker_passes(task):
    env = ptr_sim.make_env(task, image_size=48)
    try:
        check_env(env.unwrapped, skip_render_check=True)
        obs, info = env.reset(seed=1)
        assert obs['image'].shape == (48, 48, 3) and obs['image'].dtype == np.uint8
        assert obs['state'].shape == (7,) and obs['state'].dtype == np.float32
        assert info['success'] is False  # no task starts solved
    finally:
        env.close()


def test_every_task_is_registered():
    for task in TASKS:
        assert ptr_sim.env_id(task) in gym.registry
    env = gym.make('ptr_sim/OpenDoor-v0', image_size=48)
    assert env.unwrapped.task.name == 'OpenDoor'
    env.close()
    with pytest.raises(KeyError, match='NoSuchTask'):
        ptr_sim.make_env('NoSuchTask')


def _run(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    images, states = [obs['image']], [obs['state']]
    for a in actions:
        obs, *_ = env.step(a)
        images.append(obs['image'])
        states.append(obs['state'])
    return np.stack(images), np.stack(states)


ONE_TASK_PER_KITCHEN = list({t.kitchen: name for name, t in reversed(TASKS.items())}.values())


@pytest.mark.parametrize('task', ONE_TASK_PER_KITCHEN)
def test_same_seed_same_trajectory_across_envs_and_resets(task):
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (12, 7)).astype(np.float32)
    a = ptr_sim.make_env(task, image_size=48, terminate_on_success=False)
    b = ptr_sim.make_env(task, image_size=48, terminate_on_success=False)
    try:
        im1, st1 = _run(a, 5, actions)
        # A different episode in between, long and quiet enough (5 s) for objects to fall asleep.
        _run(a, 6, np.concatenate([actions[::-1], np.zeros((13, 7), np.float32)]))
        im2, st2 = _run(a, 5, actions)
        im3, st3 = _run(b, 5, actions)
        np.testing.assert_array_equal(im1, im2)
        np.testing.assert_array_equal(st1, st2)
        np.testing.assert_array_equal(im1, im3)
        np.testing.assert_array_equal(st1, st3)
        im4, _ = _run(b, 7, actions[:1])
        assert not np.array_equal(im4[0], im1[0])  # another seed: another start
    finally:
        a.close()
        b.close()


def test_seed_given_at_construction_sets_the_first_reset():
    a = ptr_sim.make_env('BinSort', image_size=48, seed=11)
    b = ptr_sim.make_env('BinSort', image_size=48)
    try:
        np.testing.assert_array_equal(a.reset()[0]['image'], b.reset(seed=11)[0]['image'])
    finally:
        a.close()
        b.close()


def test_actions_move_the_end_effector_as_commanded():
    env = ptr_sim.make_env('PutRedCubeInBlueTray', image_size=48)
    try:
        obs, _ = env.reset(seed=0)
        x0 = obs['state'][:3].copy()
        # +0.5 normalized x = +0.025 m per step; 4 steps -> +0.10 m (free space, well in reach).
        for _ in range(4):
            obs, *_ = env.step(np.array([0.5, 0, 0, 0, 0, 0, 1], np.float32))
        np.testing.assert_allclose(obs['state'][:3] - x0, [0.10, 0, 0], atol=0.006)
        assert obs['state'][6] > 0.95  # open
        for _ in range(3):
            obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, -1], np.float32))
        assert obs['state'][6] < 0.1  # closed on nothing
    finally:
        env.close()


@pytest.mark.parametrize('size', [48, 64, 128])
def test_image_sizes_and_novel_camera(size):
    env = ptr_sim.make_env('OpenDoor', image_size=size)
    moved = ptr_sim.make_env('OpenDoor', image_size=size,
                             camera=CameraConfig().shifted((0.05, -0.08, 0.06)))
    try:
        a = env.reset(seed=0)[0]['image']
        b = moved.reset(seed=0)[0]['image']
        assert a.shape == b.shape == (size, size, 3)
        assert a.std() > 10  # a real scene, not a blank frame
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 5  # the viewpoint changed
    finally:
        env.close()
        moved.close()


def test_non_finite_action_is_rejected():
    env = ptr_sim.make_env('OpenDoor', image_size=48)
    try:
        env.reset(seed=0)
        with pytest.raises(ValueError, match='action: expected 7 finite values'):
            env.step(np.full(7, np.nan, np.float32))
    finally:
        env.close()


def test_arm_start_spreads_over_the_jitter_box():
    """Fixed-fixture tasks (drawer, door) differ between episodes mostly by where the arm starts;
    with one start, N evaluation episodes of a greedy policy would be one trial N times."""
    from ptr_sim.arm import HOME_XYZ, START_JITTER
    env = ptr_sim.make_env('OpenDrawer', image_size=48)
    try:
        starts = np.stack([env.reset(seed=s)[0]['state'][:3] for s in range(24)])
    finally:
        env.close()
    offset = starts - HOME_XYZ
    assert (np.abs(offset) <= START_JITTER + 0.003).all(), offset  # settling: a few mm at most
    # uniform on [-j, j] has std j / sqrt(3); 24 draws land well above half of that
    assert (offset.std(0) > 0.5 * START_JITTER / np.sqrt(3)).all(), offset.std(0)
    gaps = np.linalg.norm(starts[:, None] - starts[None], axis=-1)[np.triu_indices(24, 1)]
    assert gaps.min() > 0.002  # every episode its own start


def test_out_of_distribution_starts_lie_outside_the_demos_range():
    """starts='ood': the arm's start offset exceeds the demos' jitter on every axis (by the
    IK's reach: at least 1.3x, drawn 1.5-2.5x) and the door starts ajar; 'demo' draws what the
    default env draws; 'mixed' gives both kinds, the same kind for the same seed."""
    from ptr_sim.arm import HOME_XYZ, START_JITTER
    from ptr_sim.scene import OOD_DOOR_AJAR
    demo = ptr_sim.make_env('OpenDoor', image_size=32)
    plain = ptr_sim.make_env('OpenDoor', image_size=32, starts='demo')
    ood = ptr_sim.make_env('OpenDoor', image_size=32, starts='ood')
    mixed = ptr_sim.make_env('OpenDoor', image_size=32, starts='mixed')
    try:
        kinds = []
        for seed in range(8):
            a, _ = demo.reset(seed=seed)
            b, info = plain.reset(seed=seed)
            np.testing.assert_array_equal(a['state'], b['state'])
            assert info['start'] == 'demo'
            rel = np.abs(a['state'][:3] - HOME_XYZ) / START_JITTER
            assert np.all(rel <= 1.05), rel  # the demos' range (reached within IK tolerance)
            assert demo.unwrapped.world.privileged().door <= 0.035
            o, info = ood.reset(seed=seed)
            assert info['start'] == 'ood'
            rel = np.abs(o['state'][:3] - HOME_XYZ) / START_JITTER
            assert np.all(rel >= 1.3), rel
            door = ood.unwrapped.world.privileged().door
            assert OOD_DOOR_AJAR[0] - 0.01 <= door <= OOD_DOOR_AJAR[1] + 0.01
            kinds.append(mixed.reset(seed=seed)[1]['start'])
        assert set(kinds) == {'demo', 'ood'}
        assert [mixed.reset(seed=s)[1]['start'] for s in range(8)] == kinds
        with pytest.raises(ValueError, match=r"starts: expected one of \['demo', 'ood', "):
            ptr_sim.make_env('OpenDoor', image_size=32, starts='far')
    finally:
        for e in (demo, plain, ood, mixed):
            e.close()
