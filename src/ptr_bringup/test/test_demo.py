"""Smoke test of `ptr demo` at the tiny budget: every stage runs end to end, the online graph
included (separate processes over DDS), and the outputs the demo promises exist."""
import json
import os

import pytest

from ptr_bringup.demo import BUDGETS, Budget, plot, run_demo

pytestmark = [pytest.mark.slow, pytest.mark.ros]


def test_demo_pipeline_tiny(tmp_path):
    s = run_demo(tmp_path / 'demo', BUDGETS['tiny'], seed=3)
    out = tmp_path / 'demo'
    assert (out / 'summary.json').is_file()
    assert json.loads((out / 'summary.json').read_text())['wall_s'] == s['wall_s']
    for key in ('pretrain', 'finetune', 'reset_policy', 'reward'):
        assert os.path.isfile(s['paths'][key]), key
    # The data stage wrote the prior, target and reset datasets.
    for sub, task in (('prior', 'CloseDrawer'), ('target', 'OpenDoor'), ('reset', 'CloseDoor')):
        assert (out / 'data' / sub / task).is_dir()
    # The prior task holds the near-clean successes and the noisy episodes as two shard sets.
    assert [len(list((out / 'data' / 'prior' / 'CloseDrawer').glob(f'shard-w{k}-*')))
            for k in (0, 1)] == [1, 1]
    # Online: the graph ran the requested episodes, the trainer learned from them and wrote
    # checkpoints (a published version each), and the graph exited cleanly by itself.
    online = s['online']
    assert online['episodes'] == 2 and online['exit_code'] == 0 and online['env_steps'] > 0
    hist = json.loads((out / 'runs' / 'online' / 'episodes' / 'history.json').read_text())
    assert [h['episode'] for h in hist] == [1, 2]
    # One copy of each episode: the shards the manager wrote are the trainer's buffer.
    shards = list((out / 'runs' / 'online').rglob('shard-*'))
    assert len(shards) == sum(h['sent'] for h in hist) and all(
        p.parent == out / 'runs' / 'online' / 'episodes' / 'OpenDoor' for p in shards)
    assert list((out / 'runs' / 'online' / 'checkpoints').glob('online_*.pt'))
    assert s['before']['episodes'] == 1 and s['after']['episodes'] == 1
    assert (out / 'online_success.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # Telemetry: one row per episode (classifier vs sim outcome), probes per data source.
    rows = [json.loads(x) for x in
            (out / 'runs' / 'online' / 'telemetry' / 'telemetry.jsonl').read_text().splitlines()]
    eps = [r for r in rows if r['kind'] == 'episode']
    assert len(eps) == sum(h['sent'] for h in hist) and all('classifier_agrees' in r for r in eps)
    probe = [r for r in rows if r['kind'] == 'probe'][-1]
    mode_keys = {'residual': ('online/correction', 'demos/correction'),  # the demo's default
                 'calql': ('online/entropy', 'demos/calql_bound_rate')}  # test_build_trainer
    for key in ('prior/td_loss', 'demos/q_data', 'demos/policy_std', 'temperature',
                *mode_keys[BUDGETS['tiny'].trainer.mode]):
        assert key in probe, key
    assert open(s['telemetry_plot'], 'rb').read(4) == b'\x89PNG'
    # The classifier's calibrated operating point and its online episode precision are reported.
    # (Two episodes cannot be split into training and held-out episodes: the classifier falls
    # back to a frame-level split and so calibrates frame by frame.)
    assert s['reward_classifier']['calibration']['frames'] == 1
    assert s['reward_classifier']['calibration']['threshold'] >= 0.5
    assert online['reward_said'] == sum(h['success'] for h in hist if h['sent'])
    # A second run reuses every stage's output instead of recomputing it.
    again = run_demo(out, BUDGETS['tiny'], seed=3)
    assert again['paths'] == s['paths'] and again['online']['episodes'] == 2


def test_plot_without_online_data(tmp_path):
    res = {'rate': 0.25, 'low': 0.1, 'high': 0.5}
    p = plot([], res, None, tmp_path / 'p.png')
    assert p.read_bytes()[:4] == b'\x89PNG'


def test_budgets_are_consistent():
    for name, b in BUDGETS.items():
        assert isinstance(b, Budget)
        assert 'OpenDoor' not in b.prior_tasks and 'CloseDoor' not in b.prior_tasks, name
    assert BUDGETS['full'].trainer.utd == 10.0 and BUDGETS['small'].target_demos == 10
    # What makes the small budget learn on a CPU: mixed clean/noisy prior data, a shared
    # encoder and PTR's main-paper mixing ratio.
    small = BUDGETS['small']
    assert small.prior_noisy_episodes > 0 and small.noisy_noise > small.demo_noise
    assert 'network.shared_encoder=true' in small.network and small.finetune_tau == 0.7


def test_the_demo_writes_its_one_trainer_config_once_as_typed_yaml(tmp_path):
    """The budget's OnlineConfig is the only channel of trainer settings into the graph."""
    import dataclasses

    from ptr_bringup.demo_budget import with_changes
    from ptr_bringup.demo_online import write_online_config
    from ptr_core.online_config import load_online_config
    b = with_changes(BUDGETS['small'], {'online_episodes': 5,
                                        'trainer': {'utd': 3.0, 'beta': [0.0, 0.5, 0.5]}})
    assert b.online_episodes == 5 and b.trainer.utd == 3.0 and b.trainer.beta == (0, 0.5, 0.5)
    assert BUDGETS['small'].trainer.utd == 2.0  # the budget itself is untouched
    back = load_online_config(write_online_config(tmp_path / 'online.yaml', b))
    assert back == b.trainer and dataclasses.asdict(back)['guard_window'] == 6
    with pytest.raises(ValueError, match='beta'):
        with_changes(b, {'trainer': {'beta': [0.5, 0.6, 0.0]}})


def test_classifier_episodes_start_where_the_budget_says():
    """The classifier sees the starts the online robot will meet: with the same seeds, 'ood'
    episodes begin from other frames than 'demo' ones (door ajar, arm displaced), and a start
    mode nobody knows is refused by name."""
    import numpy as np

    from ptr_bringup.demo import classifier_frames
    from ptr_bringup.demo_budget import with_changes
    firsts = {}
    for starts in ('demo', 'ood', 'demo'):
        images, labels, groups = classifier_frames('OpenDoor', 2, 32, seed=3, starts=starts)
        first = images[np.r_[0, np.flatnonzero(np.diff(groups)) + 1]]
        assert len(first) == 2 and labels[0] == 0
        if starts in firsts:  # the same seeds and starts: the same first frames
            np.testing.assert_array_equal(firsts[starts], first)
        firsts[starts] = first
    for a, b in zip(firsts['demo'], firsts['ood']):
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0
    assert BUDGETS['small'].classifier_starts == 'mixed'
    with pytest.raises(ValueError, match="classifier_starts: expected one of .* got 'nowhere'"):
        with_changes(BUDGETS['small'], {'classifier_starts': 'nowhere'})
