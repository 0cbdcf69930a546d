"""Telemetry's reward-trust numbers: the classifier's episode precision and recall against the
sim's outcome, cumulative and per window, worked by hand."""
import json

import numpy as np

from ptr_trainer.telemetry import Telemetry, precision_recall


class _Traj(list):
    def __init__(self, said, true):
        super().__init__(range(3))
        self.success, self.rewards = said, np.zeros(3)
        self.meta = {} if true is None else {'sim_success': true}


def test_precision_recall_by_hand():
    assert precision_recall([]) == {'precision': None, 'recall': None}
    rows = [(True, True), (True, False), (True, False), (False, True), (False, False)]
    assert precision_recall(rows) == {'precision': 1 / 3, 'recall': 1 / 2}


def test_episode_lines_carry_cumulative_and_window_precision(tmp_path):
    tel = Telemetry(tmp_path, {}, 8, tensorboard=False, window=2)
    # said/true: TP, FP, FP, TP; then one episode without a sim outcome (the arm).
    for i, (said, true) in enumerate([(True, True), (True, False), (True, False), (True, True),
                                      (False, None)]):
        tel.episode(i, 10 * i, _Traj(said, true), version=0)
    tel.close()
    rows = [json.loads(x) for x in (tmp_path / 'telemetry.jsonl').read_text().splitlines()]
    assert rows[1]['reward_precision'] == 0.5 and rows[1]['reward_recall'] == 1.0
    assert rows[2]['reward_precision_window'] == 0.0  # the last two: FP, FP
    assert 'reward_recall_window' not in rows[2]  # no true success in the window
    assert rows[3]['reward_precision'] == 0.5 and rows[3]['reward_precision_window'] == 0.5
    assert 'reward_precision' not in rows[4] and 'sim_success' not in rows[4]


def test_the_plot_shows_the_residual_modes_correction_where_there_is_no_entropy(tmp_path):
    import warnings

    from ptr_trainer.telemetry import plot, policy_panel
    calql = [{'kind': 'probe', 'step': 1, 'online/entropy': -3.0, 'online/td_loss': 1.0}]
    residual = [{'kind': 'probe', 'step': s, 'online/correction': 0.1 * s, 'demos/q_data': 5.0,
                 'temperature': 0.8} for s in (1, 2)]
    assert policy_panel(calql)[0] == 'entropy'
    assert policy_panel(residual)[0] == 'correction'
    path = tmp_path / 'telemetry.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in residual))
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # e.g. a legend over a panel with nothing drawn
        out = plot(path)
    assert out.stat().st_size > 10_000
