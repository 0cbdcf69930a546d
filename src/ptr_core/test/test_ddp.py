"""DDP over 2 gloo processes == one process on the same global batch."""
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ptr_core.agent import Agent
from ptr_core.config import load_config

TINY = ['network.image_size=48', 'network.encoder=cog_conv', 'network.cog_channels=4',
        'network.bottleneck_dim=16', 'network.q_hidden=16,16', 'network.policy_hidden=16',
        'network.num_tasks=3', 'train.batch_size=8', 'agent.num_policy_actions=2',
        'agent.num_uniform_actions=2', 'agent.num_next_actions=2', 'agent.q_lr=1e-3']
STEPS = 3


def global_batch(step, b=8):
    g = torch.Generator().manual_seed(100 + step)
    return {'image': torch.randint(0, 256, (b, 3, 48, 48), dtype=torch.uint8, generator=g),
            'next_image': torch.randint(0, 256, (b, 3, 48, 48), dtype=torch.uint8, generator=g),
            'state': torch.randn(b, 7, generator=g), 'next_state': torch.randn(b, 7, generator=g),
            'action': torch.rand(b, 7, generator=g) * 1.8 - 0.9,
            'reward': torch.randn(b, generator=g), 'terminal': torch.zeros(b),
            'task': torch.randint(0, 3, (b,), generator=g), 'mc_return': torch.randn(b)}


def _worker(rank, world, init_file, out_dir, overrides):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world)
    try:
        agent = Agent(load_config(None, TINY + overrides))
        agent.enable_ddp()
        rows = 8 // world
        for s in range(STEPS):
            batch = {k: v[rank * rows:(rank + 1) * rows] for k, v in global_batch(s).items()}
            agent.update(batch)
        torch.save({'policy': agent.policy.state_dict(),
                    'critic': agent.critic.state_dict() if agent.critic else None},
                   os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize('overrides', [[], ['agent.algo=bc', 'network.shared_encoder=true']])
def test_two_gloo_ranks_match_one_process(tmp_path, overrides, monkeypatch):
    # Spawned ranks import _worker by this module's name, which pytest's importlib mode derives
    # from the rootdir (src.ptr_core.test.test_ddp), with the parent's sys.path: make that name
    # importable from any cwd (colcon test runs in the package folder).
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[len(__name__.split('.'))
                                                                       - 1]))
    mp.spawn(_worker, args=(2, str(tmp_path / 'init'), str(tmp_path), overrides), nprocs=2,
             join=True)
    torch.set_num_threads(1)
    single = Agent(load_config(None, TINY + overrides))
    for s in range(STEPS):
        single.update(global_batch(s))
    r0 = torch.load(tmp_path / 'rank0.pt')
    r1 = torch.load(tmp_path / 'rank1.pt')
    for key, module in (('policy', single.policy), ('critic', single.critic)):
        if module is None:
            continue
        for name, want in module.state_dict().items():
            assert torch.equal(r0[key][name], r1[key][name]), f'ranks disagree on {name}'
            assert torch.allclose(r0[key][name], want, atol=1e-5, rtol=1e-4), name
    moved = [not torch.equal(a, b) for a, b in zip(
        single.policy.state_dict().values(),
        Agent(load_config(None, TINY + overrides)).policy.state_dict().values())]
    assert any(moved)  # the comparison is not between untouched initial weights


def test_torchrun_entry_refuses_an_unknown_command(capsys):
    from ptr_core import torchrun
    assert torchrun.main(['evaluate']) == 2
    assert 'ptr_core.torchrun {pretrain,finetune,train}' in capsys.readouterr().err
