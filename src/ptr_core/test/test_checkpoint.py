"""Checkpoints: atomic, self-describing, policy-only export, clear errors."""
import pytest
import torch

from ptr_core import checkpoint as ckpt
from ptr_core.agent import Agent
from ptr_core.config import load_config
from ptr_core.policy import DeployablePolicy

torch.set_num_threads(1)
TINY = ['network.image_size=48', 'network.encoder=cog_conv', 'network.cog_channels=4',
        'network.q_hidden=16', 'network.policy_hidden=16', 'network.num_tasks=2']


def test_export_policy_is_small_and_loads(tmp_path):
    agent = Agent(load_config(None, TINY))
    full = agent.save(tmp_path / 'run' / 'checkpoints' / 'step_5.pt')
    agent.save(tmp_path / 'run' / 'checkpoints' / 'step_10.pt')
    assert ckpt.latest(tmp_path / 'run').name == 'step_10.pt'
    out = ckpt.export_policy(full, tmp_path / 'policy.pt')
    payload = torch.load(out, weights_only=False)
    assert payload['format'] == ckpt.POLICY_FORMAT
    assert 'critic' not in payload and 'optimizers' not in payload
    assert out.stat().st_size < full.stat().st_size / 2
    p1, p2 = DeployablePolicy.load(full, task=0), DeployablePolicy.load(out, task=0)
    assert p1.fingerprint == p2.fingerprint
    assert [p.name for p in (tmp_path / 'run' / 'checkpoints').iterdir()] != []
    assert not [p for p in tmp_path.rglob('*.tmp')]  # nothing half-written left behind


def test_save_is_atomic_on_failure(tmp_path):
    target = tmp_path / 'x.pt'
    ckpt.save(target, {'format': ckpt.AGENT_FORMAT, 'v': 1})

    class Boom:
        def __reduce__(self):
            raise RuntimeError('boom')

    with pytest.raises(RuntimeError):
        ckpt.save(target, {'format': ckpt.AGENT_FORMAT, 'v': Boom()})
    assert ckpt.load(target)['v'] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['x.pt']


def test_errors_name_the_file(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match='nope.pt: checkpoint not found'):
        ckpt.load(tmp_path / 'nope.pt')
    (tmp_path / 'junk.pt').write_bytes(b'not a checkpoint')
    with pytest.raises(ckpt.CheckpointError, match='junk.pt: unreadable checkpoint'):
        ckpt.load(tmp_path / 'junk.pt')
    ckpt.save(tmp_path / 'other.pt', {'format': 'something/1'})
    with pytest.raises(ckpt.CheckpointError, match="format: expected ptr-agent/1, got 'something"):
        Agent.load(tmp_path / 'other.pt')


class _Payload:
    """A pickle that would run code when loaded the unsafe way."""

    def __reduce__(self):
        import os
        return (os.makedirs, ('/tmp/ptr-pwned-by-checkpoint',))


def test_a_checkpoint_carrying_code_is_refused_not_run(tmp_path):
    """Checkpoints and weights packets load weights-only: a pickle with code is an error."""
    import os

    import torch

    from ptr_core import checkpoint
    path = tmp_path / 'evil.pt'
    torch.save({'format': checkpoint.AGENT_FORMAT, 'x': _Payload()}, path)
    with pytest.raises(checkpoint.CheckpointError, match='evil.pt: unreadable checkpoint'):
        checkpoint.load(path)
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.from_bytes(path.read_bytes(), 'ptr/policy_weights')
    assert not os.path.exists('/tmp/ptr-pwned-by-checkpoint')


def test_a_file_that_cannot_be_a_checkpoint_is_refused_before_torch_reads_it(tmp_path):
    from ptr_core.ckpt_file import CheckpointError, check_file
    whole = ckpt.save(tmp_path / 'whole.pt', {'format': ckpt.AGENT_FORMAT, 'w': torch.ones(99)})
    assert check_file(whole) == whole
    data = whole.read_bytes()
    cases = {
        'cut.pt': (data[:len(data) // 2], 'without one (cut off?)'),
        'empty.pt': (b'', 'got an empty file'),
        'text.pt': (b'hello', "expected a torch zip archive (starting b'PK\\x03\\x04'), got "
                              "b'hell'"),
    }
    for name, (content, said) in cases.items():
        (tmp_path / name).write_bytes(content)
        for read in (check_file, ckpt.load):  # load checks first: the same line
            with pytest.raises(CheckpointError) as e:
                read(tmp_path / name)
            assert str(e.value).startswith(f'{tmp_path / name}: unreadable checkpoint: ')
            assert said in str(e.value) and '\n' not in str(e.value)
    with pytest.raises(CheckpointError, match=r'^--ckpt .*nope.pt: checkpoint not found$'):
        check_file(tmp_path / 'nope.pt', '--ckpt')
    with pytest.raises(CheckpointError, match='expected a checkpoint file, got a directory'):
        check_file(tmp_path)
    legacy = tmp_path / 'legacy.pt'  # torch before 1.6 wrote a bare pickle
    torch.save({'w': 1}, legacy, _use_new_zipfile_serialization=False)
    assert check_file(legacy) == legacy and ckpt.load(legacy) == {'w': 1}


def test_what_torch_refuses_is_one_line_with_what_failed(tmp_path):
    import zipfile

    from ptr_core.ckpt_file import torch_error_line
    torch.save({'x': _Payload()}, tmp_path / 'code.pt')
    with zipfile.ZipFile(tmp_path / 'other.pt', 'w') as z:  # a zip, not torch's layout
        z.writestr('a.txt', 'hi')
    said = {}
    for name in ('code.pt', 'other.pt'):
        with pytest.raises(Exception) as e:
            torch.load(tmp_path / name, weights_only=True)
        assert len(str(e.value).splitlines()) > 1 or name == 'other.pt'  # torch's many lines
        said[name] = torch_error_line(e.value)
        assert '\n' not in said[name]
        with pytest.raises(ckpt.CheckpointError) as e:
            ckpt.load(tmp_path / name)
        assert str(e.value) == f'{tmp_path / name}: unreadable checkpoint ({said[name]})'
    assert said['code.pt'] == ('UnpicklingError: Trying to load unsupported GLOBAL os.makedirs '
                               'whose module os is blocked.')
    assert said['other.pt'] == 'RuntimeError: file in archive is not in a subdirectory: a.txt'
