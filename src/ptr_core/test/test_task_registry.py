"""Task registry: ids, placeholders, re-targeting, JSON round trip, one-hot."""
import pytest
import torch

from ptr_core.task_registry import TaskRegistry


def test_ids_follow_order_and_placeholders_come_last():
    reg = TaskRegistry.create(['OpenDoor', 'BinSort', 'OpenDoor'], num_placeholders=2)
    assert reg.size == 4
    assert reg.id('OpenDoor') == 0 and reg.id('BinSort') == 1
    assert reg.placeholder_ids == [2, 3]
    assert reg.task_names == ['OpenDoor', 'BinSort']
    with pytest.raises(KeyError, match='NoSuchTask'):
        reg.id('NoSuchTask')


def test_claim_uses_a_placeholder_without_widening():
    reg = TaskRegistry.create(['A', 'B'], num_placeholders=2)
    assert reg.claim('Target') == 2
    assert reg.claim('Target') == 2  # idempotent
    assert reg.size == 4 and reg.placeholder_ids == [3]
    assert reg.claim('Other') == 3
    with pytest.raises(ValueError, match='no free placeholder'):
        reg.claim('Third')


def test_retarget_maps_new_data_onto_an_existing_id():
    reg = TaskRegistry.create(['PickCube', 'OpenDoor'])
    assert reg.retarget('PickCubeNewLight', 'PickCube') == 0
    assert reg.id('PickCubeNewLight') == 0 and reg.size == 2
    assert list(reg.ids(['OpenDoor', 'PickCubeNewLight'])) == [1, 0]
    with pytest.raises(ValueError, match='already has its own id'):
        reg.retarget('OpenDoor', 'PickCube')
    with pytest.raises(ValueError, match='reserved'):
        reg.add('__target_9__')


def test_json_round_trip_and_bad_input():
    reg = TaskRegistry.create(['A', 'B'], num_placeholders=1)
    reg.retarget('A2', 'A')
    back = TaskRegistry.from_json(reg.to_json())
    assert back == reg
    assert back.id('A2') == 0 and back.placeholder_ids == [2]
    with pytest.raises(ValueError, match='format'):
        TaskRegistry.from_json('{"names": ["A"]}')
    with pytest.raises(ValueError, match='aliases'):
        TaskRegistry.from_dict({'format': 'ptr-tasks/1', 'names': ['A'], 'aliases': {'x': 5}})


def test_one_hot_from_ids_and_names():
    reg = TaskRegistry.create(['A', 'B', 'C'])
    oh = reg.one_hot(torch.tensor([2, 0]))
    assert oh.dtype == torch.float32
    assert oh.tolist() == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    assert reg.one_hot(['B']).tolist() == [[0.0, 1.0, 0.0]]
    with pytest.raises(ValueError, match='task ids'):
        reg.one_hot([3])
