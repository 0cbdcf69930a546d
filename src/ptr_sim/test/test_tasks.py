"""The task registry's shape (what the papers' experiments need) and the predicates' geometry."""
import numpy as np
import pytest

from ptr_sim import tasks as T

FIXED = ['OpenDoor', 'CloseDoor', 'OpenDrawer', 'CloseDrawer', 'BinSort',
         'GraspFromOpenDrawer', 'GraspFromClosedDrawer', 'GraspFromBlockedDrawer']


def test_registry_has_the_named_tasks_and_dense_indices():
    assert set(FIXED) <= set(T.TASKS)
    assert sorted(t.index for t in T.TASKS.values()) == list(range(len(T.TASKS)))
    for name, task in T.TASKS.items():
        assert name == task.name and name[0].isupper() and name.isalnum()
        assert task.kitchen in T.KITCHENS and task.horizon > 0
    with pytest.raises(KeyError, match='NoSuchTask'):
        T.get_task('NoSuchTask')


def test_pick_and_place_tasks_are_distinct_and_spread_over_kitchens():
    place = [t for t in T.TASKS.values() if t.kind == 'place']
    assert len(place) >= 8
    objects = [t.goals[0][0] for t in place]
    containers = [t.goals[0][1] for t in place]
    assert len(set(objects)) == len(place) and len(set(containers)) == len(place)
    kitchens = {t.kitchen for t in place}
    assert len(kitchens) >= 3
    tables = {T.KITCHENS[k].table_rgba for k in kitchens}
    cams = {T.KITCHENS[k].camera_offset for k in kitchens}
    assert len(tables) == len(kitchens) and len(cams) == len(kitchens)
    for t in place:
        k = T.KITCHENS[t.kitchen]
        assert t.goals[0][0] in k.objects and t.goals[0][1] in k.containers
    binsort = T.TASKS['BinSort']
    assert len(binsort.goals) == 2 and len({c for _, c in binsort.goals}) == 2


def _state(**kw):
    base = dict(objects={}, ee=np.zeros(3), gripper=1.0)
    base.update(kw)
    return T.Privileged(**base)


def test_in_container_hand_checked():
    box = T.ContainerSpec((0.10, 0.12), 0.04, (0, 0, 0, 1), (0.3, -0.2))
    assert T.in_container(np.array([0.3, -0.2, 0.02]), box)
    assert T.in_container(np.array([0.349, -0.259, 0.02]), box)  # inside both half-extents
    assert not T.in_container(np.array([0.351, -0.2, 0.02]), box)  # 5.1 cm off in x > 5 cm
    assert not T.in_container(np.array([0.3, -0.2, 0.07]), box)  # above the rim + 2 cm
    task = T.TASKS['PutRedCubeInBlueTray']
    tray = T.KITCHENS[task.kitchen].containers['blue_tray']
    inside = {'red_cube': np.array([*tray.xy, 0.02]), 'yellow_can': np.zeros(3)}
    assert T.success(task, _state(objects=inside))
    assert not T.success(task, _state(objects={**inside, 'red_cube': np.array([0.3, 0, 0.016])}))


def test_binsort_needs_both_objects_in_their_own_bins():
    task = T.TASKS['BinSort']
    k = T.KITCHENS[task.kitchen]
    pos = {o: np.array([*k.containers[c].xy, 0.02]) for o, c in task.goals}
    assert T.success(task, _state(objects=pos))
    swapped = dict(zip(pos, reversed(list(pos.values()))))
    assert not T.success(task, _state(objects=swapped))
    one = dict(pos, **{task.goals[1][0]: np.array([0.3, 0.0, 0.016])})
    assert not T.success(task, _state(objects=one))


def test_fixture_thresholds():
    assert T.success(T.TASKS['OpenDrawer'], _state(drawer=T.DRAWER_OPEN_AT + 0.001))
    assert not T.success(T.TASKS['OpenDrawer'], _state(drawer=T.DRAWER_OPEN_AT - 0.001))
    assert T.success(T.TASKS['CloseDrawer'], _state(drawer=0.0))
    assert not T.success(T.TASKS['CloseDrawer'], _state(drawer=0.05))
    assert T.success(T.TASKS['OpenDoor'], _state(door=1.2))
    assert not T.success(T.TASKS['OpenDoor'], _state(door=0.5))
    assert T.success(T.TASKS['CloseDoor'], _state(door=0.02))
    assert not T.success(T.TASKS['CloseDoor'], _state(door=0.5))
    held = {'drawer_cube': np.array([0.3, 0.1, 0.1]), 'blocker': np.zeros(3)}
    for name in ('GraspFromOpenDrawer', 'GraspFromClosedDrawer', 'GraspFromBlockedDrawer'):
        assert T.success(T.TASKS[name], _state(objects=held, gripper=0.5))
        assert not T.success(T.TASKS[name], _state(objects=held, gripper=1.0))  # not held
        low = dict(held, drawer_cube=np.array([0.3, 0.1, 0.03]))
        assert not T.success(T.TASKS[name], _state(objects=low, gripper=0.5))


def test_goals_met_counts_the_compound_tasks_partial_progress():
    task = T.TASKS['BinSort']
    k = T.KITCHENS[task.kitchen]
    pos = {o: np.array([*k.containers[c].xy, 0.02]) for o, c in task.goals}
    assert T.goals_met(task, _state(objects=pos)) == 2
    one = dict(pos, **{task.goals[1][0]: np.array([0.3, 0.0, 0.016])})
    assert T.goals_met(task, _state(objects=one)) == 1 and not T.success(task, _state(objects=one))
    swapped = dict(zip(pos, reversed(list(pos.values()))))
    assert T.goals_met(task, _state(objects=swapped)) == 0
