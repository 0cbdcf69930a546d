"""Checkpoint selection score and ranking."""
import numpy as np
import pytest
from scipy import stats

from ptr_core.data import Trajectory
from ptr_core.select import (
    monotonicity,
    plot_curves,
    rank_checkpoints,
    rankdata,
    score_q_fn,
    spearman,
)


def _traj(t):
    return Trajectory.from_arrays(np.zeros((t + 1, 4, 4, 3)), np.zeros((t + 1, 7)),
                                  np.zeros((t, 7)), task='T', success=True)


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, 30).astype(float)  # many ties
        y = rng.normal(size=30)
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
        np.testing.assert_allclose(rankdata(x), stats.rankdata(x))
    assert spearman(np.ones(5), np.arange(5)) == 0.0


def test_monotone_beats_flat_and_noisy():
    t = np.arange(30)
    rng = np.random.default_rng(1)
    monotone = -12 + 22 * (0.96 ** (29 - t))  # a discounted value curve rising to +10
    flat_monotone = 1e-3 * t  # perfectly ordered but spans nothing
    noisy = rng.normal(0, 5, 30)
    decreasing = monotone[::-1]
    ref = 22.0
    s = {k: monotonicity(v, ref).score for k, v in
         [('monotone', monotone), ('flat', flat_monotone), ('noisy', noisy),
          ('decreasing', decreasing), ('const', np.full(30, 3.0))]}
    assert s['monotone'] == pytest.approx((monotone.max() - monotone.min()) / ref)
    assert s['monotone'] > s['noisy'] and s['monotone'] > s['flat']
    assert s['flat'] == pytest.approx(29e-3 / 22)  # spearman 1 times the tiny range factor
    assert s['decreasing'] < 0 and s['const'] == 0.0
    # monotone-with-small-noise still beats pure noise
    noisy_monotone = monotonicity(monotone + rng.normal(0, 0.5, 30), ref)
    assert noisy_monotone.spearman > 0.95 and noisy_monotone.score > 0.9 * s['monotone']


def test_rank_checkpoints_picks_the_monotone_one(tmp_path):
    trajs = [_traj(30), _traj(25)]
    rng = np.random.default_rng(2)
    curves = {
        'ckpt_001000.pt': lambda tr: rng.normal(0, 3, len(tr)),
        'ckpt_002000.pt': lambda tr: np.linspace(-13, 10, len(tr)),
        'ckpt_003000.pt': lambda tr: np.full(len(tr), 4.0),
    }
    ranked = rank_checkpoints(list(curves), lambda p: curves[p], trajs, plot_dir=tmp_path)
    assert [c.path.name for c in ranked][0] == 'ckpt_002000.pt'
    assert ranked[0].step == 2000 and ranked[-1].score <= ranked[0].score
    assert ranked[0].plot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert len(ranked[0].curves) == 2 and len(ranked[0].curves[1]) == 25
    with pytest.raises(ValueError, match='expected 30 Q-values'):
        score_q_fn(lambda tr: np.zeros(3), trajs)


def test_plot_is_written_atomically(tmp_path):
    p = plot_curves([np.arange(5.0)], tmp_path / 'sub' / 'a.png', 'x')
    assert p.exists() and not list((tmp_path / 'sub').glob('*.tmp'))


def _tiny_agent(seed):
    import torch

    from ptr_core.agent import Agent
    from ptr_core.config import preset
    from ptr_core.task_registry import TaskRegistry

    torch.set_num_threads(1)
    cfg = preset('ptr_sim_cpu')
    n = cfg.network
    n.image_size, n.encoder, n.cog_channels, n.bottleneck_dim = 16, 'cog_conv', 4, 8
    n.num_tasks = 3
    n.q_hidden, n.policy_hidden = (8, 8), (8, 8)
    cfg.train.seed = seed
    return Agent(cfg, TaskRegistry.create(['Other', 'T'], 1).to_dict(), 'T')


def test_select_cli_ranks_real_checkpoints(tmp_path, capsys):
    from ptr_core.data import DatasetWriter
    from ptr_core.select import AgentQ
    from ptr_core.select_cli import main

    rng = np.random.default_rng(3)
    trajs = [Trajectory.from_arrays(rng.integers(0, 256, (t + 1, 16, 16, 3)),
                                    rng.normal(size=(t + 1, 7)), rng.uniform(-1, 1, (t, 7)),
                                    task='T', success=True) for t in (6, 9)]
    with DatasetWriter(tmp_path / 'heldout') as w:
        for tr in trajs:
            w.add(tr)
    run = tmp_path / 'run'
    agents = {s: _tiny_agent(s) for s in (0, 1)}
    for s, a in agents.items():
        a.save(run / f'ckpt_{s + 1:06d}.pt')
    (run / 'notes.pt').write_bytes(b'not a checkpoint')
    assert main([str(run), '--heldout', str(tmp_path / 'heldout')]) == 0
    out = capsys.readouterr()
    assert 'skipping' in out.err and 'notes.pt' in out.err
    # independent recomputation: the chosen one has the larger mean score, task id of 'T' is 1
    scores = {s: score_q_fn(AgentQ(a, 1), trajs)[0] for s, a in agents.items()}
    best = max(scores, key=scores.get)
    assert out.out.strip().splitlines()[-1] == f'chosen: {run / f"ckpt_{best + 1:06d}.pt"}'
    assert f'{scores[best]:.3f}' in out.out
    assert sorted(p.name for p in (run / 'select').glob('*.png')) == [
        'ckpt_000001.png', 'ckpt_000002.png']
    assert main([str(run), '--heldout', str(tmp_path / 'nowhere')]) == 2
