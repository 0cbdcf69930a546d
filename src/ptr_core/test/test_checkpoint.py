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
